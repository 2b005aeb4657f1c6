"""Batches: many recipients in one request, issued in the background by the runner."""
