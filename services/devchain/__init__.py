"""The embedded development chain: a local anvil with persisted state, and the contract on it."""
