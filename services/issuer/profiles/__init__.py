"""Learners' public profiles: created and withdrawn by the issuer for its learner, read by the verifier (docs/learners.md)."""
