"""The verifier (docs/verifier.md): the public credential page, the report JSON, embeds and the verify API.

Stateless: it owns no data. It resolves a credential against the issuer (the document) and
the registry (a receipt), then checks every claim itself against the chain.
"""
