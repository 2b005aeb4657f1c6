"""API keys: recognisable, random, and only their hash is kept."""

from __future__ import annotations

from services.issuer.apikeys import tokens as apikeys


def test_keys_have_the_prefix_and_enough_entropy_and_are_stored_hashed():
    made = [apikeys.new_api_key() for _ in range(200)]
    assert len({m.key for m in made}) == 200
    for m in made:
        assert m.key.startswith("mc_live_") and len(m.key) >= 50
        assert m.display_prefix == m.key[:14]
        assert m.key_hash == apikeys.hash_key(m.key) and m.key not in m.key_hash
        assert apikeys.looks_like_key(m.key)
    assert not apikeys.looks_like_key("Bearer something")
    assert not apikeys.looks_like_key("mc_live_")
