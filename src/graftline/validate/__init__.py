"""Validation: per-image facts -> a Great Expectations suite -> reports/validation.json and a gate."""
