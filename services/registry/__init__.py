"""The registry service: chain accounts, Merkle-batched anchoring, revocations, receipts."""
