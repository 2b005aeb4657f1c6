"""Learners: one person as an issuer knows them, keyed by a keyed hash of their email (docs/learners.md)."""
