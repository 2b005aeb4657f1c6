"""Webhooks: partners' endpoints, events recorded with their cause, signed deliveries (docs/webhooks.md)."""
