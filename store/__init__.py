"""The store: the engines (embedded chDB, a ClickHouse server or cluster), the one SQL
chokepoint (``store.executor``), the schema with its rollup, snapshot-table and index
definitions, the process's database and query cache, and the metadata store
(SQLAlchemy). Everything that reads or writes goes through here (docs/architecture.md)."""
