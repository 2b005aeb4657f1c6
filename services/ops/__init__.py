"""Process-level operations: migrations, the embedded dev stack. Not imported by services."""
