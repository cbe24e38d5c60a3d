"""Query layer: pure functions from a typed filter to a DataFrame.

Every SQL text goes through :func:`store.executor.run` (bound parameters, time
limit, logging, error mapping). No Dash imports here.
"""
