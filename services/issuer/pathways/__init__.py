"""Pathways: achievements awarded automatically when a learner holds their components (docs/pathways.md)."""
