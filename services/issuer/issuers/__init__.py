"""Issuers: the tenant, its signing keys, its chain account, its public Profile and DID document."""
