"""Ingestion of department files: read, validate, transform, load and report rejects."""
