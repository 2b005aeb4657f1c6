"""Credentials: the one builder of the document, issuing, reading, revoking, suspending."""
