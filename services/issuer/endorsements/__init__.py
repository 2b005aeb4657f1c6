"""Endorsers (organisations of kind endorser) and their endorsements of achievements and issuers (docs/endorsements.md)."""
