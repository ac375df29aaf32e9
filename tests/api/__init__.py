"""The JSON API: keys, errors, isolation, resources, idempotency, schema (issue 15)."""
