"""Tenant health: the status every tenant shows on the agency dashboard, with its filters,
sorts and counts, computed in the database (:mod:`~linker.health.selectors`)."""
