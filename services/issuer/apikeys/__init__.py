"""An issuer's API keys."""
