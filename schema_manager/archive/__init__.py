"""Keeping what destructive statements remove: reading the target, bounds, records, purge."""
