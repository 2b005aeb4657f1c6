"""Gas per revoked credential: a status list update versus per-hash ``revokeBatch``.

With status lists, the revocations of one interval change N entries of a list credential, and
the chain gets one ``setStatusList(listId, listHash)`` — the same two storage slots whatever N
is. So the gas per revoked credential is the update's ``gasUsed / N``. Per-hash revocation
(still there for credentials issued before status lists) writes one slot per hash.

For N = 1, 10, 100 and 1,000 revocations per update, on a fresh anvil with the committed
contract:

* a real revocation list (131,072 entries, ``services.core.statuslist``) gets N more entries
  set; its credential hash (``services.core.jsonld.credential_hash``) is set on chain as the
  next version of a list that already exists — the steady state — and as the first version of
  a new list (both slots go from zero, the dearest case);
* the revocation and suspension lists of the issuer updated together in one
  ``setStatusLists``, N changed entries in all;
* the same N credentials revoked by hash with ``revokeBatch``, in transactions of at most 200
  hashes as the registry sends them (``MICROCRED_REVOKE_MAX_PER_TX``).

Target: ≤ 1,000 gas per revoked credential at 100 per update.

    python -m bench.statuslist_gas
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

from web3 import HTTPProvider, Web3

from services.core import statuslist
from services.core.contract import ABI
from services.core.jsonld import credential_hash
from services.devchain.anvil import Anvil
from services.devchain.deploy import DEV_ADDRESSES, OPERATOR_KEY, deploy_registry
from services.ops.processes import free_port

SIZES = (1, 10, 100, 1_000)
REVOKE_MAX_PER_TX = 200  # the registry's default MICROCRED_REVOKE_MAX_PER_TX
TARGET_AT_100 = 1_000
ISSUER_DID = "did:web:bench.example"
BASE_URL = "https://issuer.bench.example/status"


class StatusList:
    """One of the issuer's lists: its bits, and the credential hash of each version."""

    def __init__(self, purpose: str, number: int) -> None:
        self.purpose, self.url = purpose, f"{BASE_URL}/{purpose}/{number}"
        self.bits = statuslist.empty()
        self.version = 0
        self.free = list(range(statuslist.MIN_ENTRIES))
        random.shuffle(self.free)

    @property
    def list_id(self) -> bytes:
        return statuslist.list_id(self.url)

    def next_version(self, changed: int) -> bytes:
        """Set ``changed`` more entries; the new version's credential hash."""
        statuslist.set_bits(self.bits, on=[self.free.pop() for _ in range(changed)])
        self.version += 1
        document = statuslist.list_credential(list_url=self.url, issuer=ISSUER_DID, purpose=self.purpose,
                                              bits=self.bits, valid_from=f"2026-12-02T00:{self.version // 60:02d}:"
                                                                         f"{self.version % 60:02d}Z")
        return credential_hash(document)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="microcred-bench-"))
    anvil = Anvil(port=free_port(), log_path=root / "anvil.log").start()
    try:
        w3 = Web3(HTTPProvider(anvil.rpc_url))
        contract = w3.eth.contract(address=deploy_registry(w3, OPERATOR_KEY), abi=ABI)
        owner, issuer = DEV_ADDRESSES[0], DEV_ADDRESSES[1]  # anvil's unlocked dev accounts

        def gas(fn, sender: str = issuer) -> int:
            # A later block second, as for updates one interval apart: setAt changes with every
            # update (within one second anvil gives blocks the same time, and that slot's write
            # would cost 2,800 gas less than it does on a real chain).
            w3.provider.make_request("evm_increaseTime", [60])
            receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}), timeout=60)
            assert receipt["status"] == 1, f"{fn.fn_name} reverted"
            return int(receipt["gasUsed"])

        gas(contract.functions.registerIssuer(issuer, ISSUER_DID, os.urandom(32)), owner)
        revocation, suspension = StatusList("revocation", 1), StatusList("suspension", 1)
        gas(contract.functions.setStatusList(revocation.list_id, revocation.next_version(0)))  # version 1: exists
        gas(contract.functions.setStatusList(suspension.list_id, suspension.next_version(0)))

        rows = []
        for n in SIZES:
            list_hash = revocation.next_version(n)
            update = gas(contract.functions.setStatusList(revocation.list_id, list_hash))
            assert contract.functions.statusListOf(issuer, revocation.list_id).call()[0] == list_hash
            fresh = StatusList("revocation", 100 + n)
            first = gas(contract.functions.setStatusList(fresh.list_id, fresh.next_version(n)))
            both = gas(contract.functions.setStatusLists(
                [revocation.list_id, suspension.list_id],
                [revocation.next_version(n - n // 2), suspension.next_version(n // 2)]))
            hashes = [os.urandom(32) for _ in range(n)]
            per_hash = sum(gas(contract.functions.revokeBatch(hashes[i:i + REVOKE_MAX_PER_TX]))
                           for i in range(0, n, REVOKE_MAX_PER_TX))
            rows.append((n, update, first, both, per_hash))

        print("gas per revoked credential (transaction gasUsed / revocations it carries)\n")
        print(f"{'revocations':>11} | {'list update':>11} | {'per credential':>14} | {'first version':>13} | "
              f"{'both lists':>10} | {'revokeBatch':>11} | {'revokeBatch':>11}")
        print(f"{'per update':>11} | {'gas (tx)':>11} | {'(list update)':>14} | {'per cred.':>13} | "
              f"{'per cred.':>10} | {'gas (txs)':>11} | {'per cred.':>11}")
        print("-" * 98)
        for n, update, first, both, per_hash in rows:
            print(f"{n:>11,} | {update:>11,} | {update / n:>14,.1f} | {first / n:>13,.1f} | {both / n:>10,.1f} | "
                  f"{per_hash:>11,} | {per_hash / n:>11,.1f}")
        at_100 = next(update for n, update, *_ in rows if n == 100) / 100
        first_100 = next(first for n, _u, first, *_ in rows if n == 100) / 100
        print(f"\nat 100 per update: {at_100:,.1f} gas per revoked credential ({first_100:,.1f} for a list's first "
              f"version; target ≤ {TARGET_AT_100:,}) — {'OK' if max(at_100, first_100) <= TARGET_AT_100 else 'OVER TARGET'}")
        per_hash_100 = next(p for n, *_, p in rows if n == 100) / 100
        print(f"per-hash revokeBatch at 100: {per_hash_100:,.1f} gas per credential "
              f"({per_hash_100 / at_100:,.0f}× the list update)")
    finally:
        anvil.stop()


if __name__ == "__main__":
    sys.exit(main())
