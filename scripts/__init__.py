"""Maintenance scripts, importable from the repository root (python -m scripts.make_sample_data)."""
