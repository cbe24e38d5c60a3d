"""Periodic reports (日报/周报/月报/季报): data builder, PDF and Excel export,
schedules and archive. See docs/reports.md."""
