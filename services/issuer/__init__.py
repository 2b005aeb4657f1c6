"""The issuer service: tenants, API keys, achievements, OB 3.0 credentials signed with eddsa-rdfc-2022."""
