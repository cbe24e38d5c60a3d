"""The indicator system (指标体系): every number on a wall, table, report or the
API is an indicator declared once in :mod:`indicators.catalogue` and computed by
:mod:`queries.indicator_values`."""
