"""The REST API: answers every /api/v1 route of the seed bridge from the read model (read-only)."""
