"""The verifier's revocation index against a real anvil and the deployed contract.

Revocations are sent as transactions; the index reads the contract's ``CredentialRevoked``
logs, and ChainView (``follow_revocations``) then asks ``revokedAt`` only for a hash the index
holds, or when it is not fresh. The requests ChainView sends are counted at its transport.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter

import orjson

from services.verifier.chainview import ChainView

GAS = 3_000_000


def _revoke(chain, account: str, credential_hash: bytes) -> None:
    tx = chain.contract.functions.revoke(credential_hash).transact({"from": account, "gas": GAS})
    assert chain.w3.eth.wait_for_transaction_receipt(tx, timeout=10)["status"] == 1


def _issuer(chain) -> str:
    account = chain.w3.eth.accounts[5]
    if not chain.contract.functions.issuer(account).call()[2]:  # registeredAt
        tx = chain.contract.functions.registerIssuer(account, f"did:web:example.org:issuers:{account}",
                                                     os.urandom(32)).transact({"from": chain.owner, "gas": GAS})
        assert chain.w3.eth.wait_for_transaction_receipt(tx, timeout=10)["status"] == 1
    return account


class Counted:
    """The view's transport, counting the JSON-RPC methods of each request it sends."""

    def __init__(self, view: ChainView) -> None:
        self.sent: list[list[str]] = []  # cleared by the tests as they go
        self.every: list[list[str]] = []
        post = view._transport.post

        async def counting(body: bytes) -> bytes:
            methods = [r["method"] for r in orjson.loads(body)]
            self.sent.append(methods)
            self.every.append(methods)
            return await post(body)

        view._transport.post = counting


def test_revocations_on_chain_are_followed_and_only_revoked_hashes_are_asked(chain):
    account = _issuer(chain)
    revoked, later, never = os.urandom(32), os.urandom(32), os.urandom(32)
    _revoke(chain, account, revoked)

    async def main():
        view = ChainView(chain.rpc_url, chain.address, follow_revocations=True)
        counted = Counted(view)
        try:
            # Never synced: asked of the contract, and the index syncs in the background.
            (first,) = await view.read_for_verification(account=account, credential_hash="0x" + never.hex(),
                                                        issuer_record=False)
            assert first == 0 and counted.sent[0] == ["eth_call"]
            for _ in range(100):
                if view.revocations.age is not None:
                    break
                await asyncio.sleep(0.01)
            # The head; the page's last block, its logs, that block again (the chain did not move).
            assert counted.sent[1:] == [["eth_getBlockByNumber"], ["eth_getBlockByNumber"], ["eth_getLogs"],
                                        ["eth_getBlockByNumber"]]
            counted.sent.clear()

            # Fresh: a hash not revoked costs no request; a revoked one is asked, and its time read.
            (not_revoked,) = await view.read_for_verification(account=account, credential_hash="0x" + never.hex(),
                                                              issuer_record=False)
            (revoked_at,) = await view.read_for_verification(account=account, credential_hash="0x" + revoked.hex(),
                                                             issuer_record=False)
            assert not_revoked == 0 and revoked_at > 0
            assert counted.sent == [["eth_call"]]
            # Another account's revocation of the same hash is not this account's.
            other = chain.w3.eth.accounts[6]
            assert view.revocations.clears(other, "0x" + revoked.hex())

            # A revocation sent now is in the index after its next sync.
            assert view.revocations.clears(account, "0x" + later.hex())
            await asyncio.to_thread(_revoke, chain, account, later)
            await view.revocations.sync()
            assert not view.revocations.clears(account, "0x" + later.hex())
            (later_at,) = await view.read_for_verification(account=account, credential_hash="0x" + later.hex(),
                                                           issuer_record=False)
            assert later_at > 0
            # What /metrics reports of the node's use is what went out.
            assert view.requests_sent == len(counted.every)
            assert view.calls_sent == dict(Counter(m for request in counted.every for m in request))
        finally:
            await view.aclose()

    asyncio.run(main())


def test_a_revocation_the_chain_took_back_is_taken_out_of_the_index(chain):
    account = _issuer(chain)
    credential_hash = os.urandom(32)
    before = chain.snapshot()
    _revoke(chain, account, credential_hash)
    chain.mine(3)

    async def main():
        view = ChainView(chain.rpc_url, chain.address, follow_revocations=True)
        try:
            await view.revocations.sync()
            assert not view.revocations.clears(account, "0x" + credential_hash.hex())
            synced = view.revocations.syncs["ok"]
            chain.revert(before)  # the blocks with the revocation are gone
            await view.revocations.sync()  # the head is below what was read: not complete
            assert view.revocations.syncs == {"ok": synced, "failed": 1}
            await asyncio.sleep(1.1)
            assert not view.revocations.clears(account, "0x" + credential_hash.hex())  # asked of the contract
            (value,) = await view.read_for_verification(account=account, credential_hash="0x" + credential_hash.hex(),
                                                        issuer_record=False)
            assert value == 0
            # Mined past where it was read: those blocks have other hashes now, so all is read again.
            chain.mine(10)
            for _ in range(100):  # (a sync the verification above started may still be on its way)
                await view.revocations.sync()
                if view.revocations.syncs["ok"] > synced:
                    break
                await asyncio.sleep(0.02)
            assert view.revocations.syncs["ok"] == synced + 1
            assert view.revocations.clears(account, "0x" + credential_hash.hex())
        finally:
            await view.aclose()

    asyncio.run(main())


def test_a_one_off_check_asks_the_contract_every_time(chain):
    account = _issuer(chain)

    async def main():
        view = ChainView(chain.rpc_url, chain.address)
        counted = Counted(view)
        try:
            assert view.revocations is None
            for _ in range(3):
                await view.read_for_verification(account=account, credential_hash="0x" + os.urandom(32).hex(),
                                                 issuer_record=False)
            assert counted.sent == [["eth_call"]] * 3
        finally:
            await view.aclose()

    asyncio.run(main())
