"""The outbox to the registry and the anchor proofs it brings back (the relay is services.issuer.outbox)."""
