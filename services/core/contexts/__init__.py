"""Bundled JSON-LD context documents (data only; see README.md and services/core/jsonld.py)."""
