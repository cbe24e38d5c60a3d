"""The domain: what the data mean, with no SQL engine and no web framework — the region
tree and its boundaries, working days, credit codes, the input formats of the data
sources, enumerations shared by the schema and the rules, and the project's exceptions.
(The supervision rules and the indicator catalogue are the layers above: see
docs/architecture.md.)"""
