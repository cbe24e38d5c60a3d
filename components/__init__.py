"""Pure factories for cards, figures and tables (no database, no server)."""
