"""The HTTP API: Segment-compatible ingestion (and, later, management endpoints)."""
