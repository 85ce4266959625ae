"""The JSON API under /api/v1/, on the same services as the pages."""
