"""Images and achievements (the definitions credentials are issued for)."""
