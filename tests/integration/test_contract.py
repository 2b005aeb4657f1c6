"""CredentialRegistry on a real anvil: a role × action matrix, then every refusal and edge by name.

Roles: the owner (platform operator), an issuer and another issuer (registered, active), a
stranger (never registered) and a suspended issuer (registered, then deactivated). Every
allowed action is checked through the views *and* by decoding its event from the receipt;
every refusal by its custom error's name and arguments, decoded from the revert data with
``services.core.contract.decode_custom_error``, and then by sending the transaction anyway
(explicit gas, so no estimate stops it) and finding a reverted receipt and nothing written.
Inputs (roots, hashes, keys, accounts) are random for every run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from services.core.contract import ABI, decode_custom_error

ZERO_ADDRESS = "0x" + "0" * 40
GAS = 3_000_000  # explicit gas: a refused transaction is mined and reverts instead of failing its estimate


def rand32() -> bytes:
    return os.urandom(32)


def norm(value: Any) -> Any:
    """Error arguments as decode_custom_error gives them: bytes as 0x-hex, addresses lower-case."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str) and value.startswith("0x"):
        return value.lower()
    return value


def error(name: str, *args: Any) -> tuple[str, tuple]:
    return name, tuple(norm(a) for a in args)


class Registry:
    """The deployed contract on the test's chain, with the few moves every test makes."""

    def __init__(self, chain) -> None:
        self.chain = chain
        self.w3 = chain.w3
        self.c = chain.contract

    # -- transactions
    def send(self, fn, sender: str):
        tx = fn.transact({"from": sender, "gas": GAS})
        return self.w3.eth.wait_for_transaction_receipt(tx, timeout=10)

    def ok(self, fn, sender: str):
        receipt = self.send(fn, sender)
        assert receipt["status"] == 1, f"{fn.fn_name} by {sender} reverted"
        return receipt

    def refusal(self, fn, sender: str) -> tuple[str, tuple] | None:
        """The custom error ``fn`` is refused with (from eth_call), after checking a sent one reverts too."""
        with pytest.raises(ContractCustomError) as raised:
            fn.call({"from": sender})
        decoded = decode_custom_error(raised.value.data)
        assert decoded is not None, f"not one of the contract's errors: {raised.value.data!r}"
        receipt = self.send(fn, sender)
        assert receipt["status"] == 0, f"{fn.fn_name} by {sender} was refused by eth_call but mined"
        assert receipt["logs"] == []
        return decoded[0], tuple(norm(a) for a in decoded[1])

    def events(self, receipt, name: str) -> list[dict]:
        return [dict(e["args"]) for e in getattr(self.c.events, name)().process_receipt(receipt, errors=DISCARD)]

    # -- chain time
    def block_time(self, receipt=None) -> int:
        block = self.w3.eth.get_block(receipt["blockNumber"] if receipt else "latest")
        return block["timestamp"]

    def advance(self, seconds: int) -> int:
        """Move chain time forward and mine; the new head's timestamp."""
        self.chain.rpc("evm_increaseTime", seconds)
        self.chain.rpc("evm_mine")
        return self.block_time()

    # -- views
    def issuer(self, account: str) -> tuple:
        return tuple(self.c.functions.issuer(account).call())

    def keys(self, account: str) -> list[tuple]:
        return [tuple(k) for k in self.c.functions.issuerKeys(account).call()]

    def key_valid_at(self, account: str, key: bytes, timestamp: int) -> bool:
        return self.c.functions.keyValidAt(account, key, timestamp).call()

    def anchor_of(self, root: bytes) -> tuple:
        return tuple(self.c.functions.anchorOf(root).call())

    def revoked_at(self, account: str, h: bytes) -> int:
        return self.c.functions.revokedAt(account, h).call()

    def status_list(self, account: str, list_id: bytes) -> tuple:
        return tuple(self.c.functions.statusListOf(account, list_id).call())


@dataclass
class Roles:
    owner: str
    issuer: str
    other: str
    suspended: str
    stranger: str
    first_key: dict[str, bytes]  # each registered account's first key

    def __getitem__(self, role: str) -> str:
        return getattr(self, role)


@pytest.fixture
def reg(chain) -> Registry:
    return Registry(chain)


@pytest.fixture
def roles(chain, reg) -> Roles:
    # anvil's own unlocked dev accounts (it signs for them); the first is the contract's owner
    owner, issuer, other, suspended = chain.w3.eth.accounts[:4]
    assert owner == chain.owner == reg.c.functions.owner().call()
    # The stranger is a fresh account each test: funded and impersonated, so it can send transactions.
    stranger = Account.create().address
    chain.rpc("anvil_setBalance", stranger, hex(10**20))
    chain.rpc("anvil_impersonateAccount", stranger)
    first_key = {}
    for account in (issuer, other, suspended):
        first_key[account] = rand32()
        reg.ok(reg.c.functions.registerIssuer(account, f"did:web:example.org:issuers:{account}", first_key[account]),
               owner)
    reg.ok(reg.c.functions.setIssuerActive(suspended, False), owner)
    return Roles(owner, issuer, other, suspended, stranger, first_key)


# ------------------------------------------------------------------ the role × action matrix

ROLES = ("owner", "issuer", "other", "stranger", "suspended")


@dataclass
class Action:
    """One contract function: a random call for a sender, the roles allowed it, and what success looks like."""

    prepare: Callable[[Registry, Roles, str], tuple[Any, Callable[[Any], None]]]
    allowed: frozenset[str]

    def refusal_for(self, name: str, roles: Roles, role: str) -> tuple[str, tuple]:
        sender = roles[role]
        if name in OWNER_ACTIONS:
            return error("OwnableUnauthorizedAccount", sender)
        if role == "suspended":
            return error("IssuerNotActive", sender)
        return error("IssuerNotRegistered", sender)  # the owner and the stranger are no issuers


def _register_issuer(reg: Registry, roles: Roles, sender: str):
    account, did, key = Account.create().address, f"did:web:example.org:issuers:{os.urandom(6).hex()}", rand32()

    def check(receipt):
        assert reg.issuer(account) == (did, True, reg.block_time(receipt), 1)
        assert reg.keys(account) == [(key, reg.block_time(receipt), 0, False)]
        assert reg.events(receipt, "IssuerRegistered") == [{"account": account, "did": did, "publicKey": key}]
        assert reg.events(receipt, "KeyAdded") == [
            {"account": account, "publicKey": key, "validFrom": reg.block_time(receipt)}]

    return reg.c.functions.registerIssuer(account, did, key), check


def _set_issuer_active(reg: Registry, roles: Roles, sender: str):
    before = reg.issuer(roles.issuer)

    def check(receipt):
        assert reg.issuer(roles.issuer) == (before[0], False, before[2], before[3])
        assert reg.events(receipt, "IssuerActiveChanged") == [{"account": roles.issuer, "active": False}]

    return reg.c.functions.setIssuerActive(roles.issuer, False), check


def _add_key(reg: Registry, roles: Roles, sender: str):
    key = rand32()

    def check(receipt):
        now = reg.block_time(receipt)
        assert reg.keys(roles.issuer)[-1] == (key, now, 0, False)
        assert reg.issuer(roles.issuer)[3] == 2
        assert reg.key_valid_at(roles.issuer, key, now)
        assert reg.events(receipt, "KeyAdded") == [{"account": roles.issuer, "publicKey": key, "validFrom": now}]

    return reg.c.functions.addKey(roles.issuer, key), check


def _retire_key(reg: Registry, roles: Roles, sender: str):
    """Any timing is accepted: 0 (the block time), the future (a compromise: the block time; a normal
    retirement: as given), the past and before validFrom (as given)."""
    key = roles.first_key[roles.issuer]
    registered = reg.issuer(roles.issuer)[2]
    timing = ("zero", "future", "at_valid_from", "before_valid_from")[os.urandom(1)[0] % 4]
    until = {"zero": 0, "future": reg.block_time() + 1 + int.from_bytes(os.urandom(3), "big"),
             "at_valid_from": registered,
             "before_valid_from": registered - 1 - int.from_bytes(os.urandom(3), "big")}[timing]
    compromised = bool(os.urandom(1)[0] & 1)

    def check(receipt):
        now = reg.block_time(receipt)
        expected = now if timing == "zero" or (timing == "future" and compromised) else until
        (stored,) = reg.keys(roles.issuer)
        assert stored == (key, registered, expected, compromised), timing
        assert not reg.key_valid_at(roles.issuer, key, max(now, expected))
        assert reg.events(receipt, "KeyRetired") == [
            {"account": roles.issuer, "publicKey": key, "validUntil": expected, "compromised": compromised}]

    return reg.c.functions.retireKey(roles.issuer, key, until, compromised), check


def _anchor_root(reg: Registry, roles: Roles, sender: str):
    root, leaves = rand32(), int.from_bytes(os.urandom(2), "big") + 1

    def check(receipt):
        assert reg.anchor_of(root) == (sender, reg.block_time(receipt), receipt["blockNumber"])
        assert reg.events(receipt, "RootAnchored") == [{"issuer": sender, "root": root, "leafCount": leaves}]

    return reg.c.functions.anchorRoot(root, leaves), check


def _revoke(reg: Registry, roles: Roles, sender: str):
    h = rand32()

    def check(receipt):
        assert reg.revoked_at(sender, h) == reg.block_time(receipt)
        assert reg.events(receipt, "CredentialRevoked") == [{"issuer": sender, "credentialHash": h}]

    return reg.c.functions.revoke(h), check


def _revoke_batch(reg: Registry, roles: Roles, sender: str):
    hashes = [rand32() for _ in range(1 + os.urandom(1)[0] % 8)]

    def check(receipt):
        assert [reg.revoked_at(sender, h) for h in hashes] == [reg.block_time(receipt)] * len(hashes)
        assert reg.events(receipt, "CredentialRevoked") == [{"issuer": sender, "credentialHash": h} for h in hashes]

    return reg.c.functions.revokeBatch(hashes), check


def _set_status_list(reg: Registry, roles: Roles, sender: str):
    list_id, list_hash = rand32(), rand32()

    def check(receipt):
        assert reg.status_list(sender, list_id) == (list_hash, reg.block_time(receipt))
        bystander = roles.other if sender == roles.issuer else roles.issuer
        assert reg.status_list(bystander, list_id) == (ZERO32, 0)  # kept per issuer account
        assert reg.events(receipt, "StatusListSet") == [{"issuer": sender, "listId": list_id, "listHash": list_hash}]

    return reg.c.functions.setStatusList(list_id, list_hash), check


def _set_status_lists(reg: Registry, roles: Roles, sender: str):
    ids = [rand32() for _ in range(1 + os.urandom(1)[0] % 4)]
    hashes = [rand32() for _ in ids]

    def check(receipt):
        now = reg.block_time(receipt)
        assert [reg.status_list(sender, i) for i in ids] == [(h, now) for h in hashes]
        assert reg.events(receipt, "StatusListSet") == [
            {"issuer": sender, "listId": i, "listHash": h} for i, h in zip(ids, hashes)]

    return reg.c.functions.setStatusLists(ids, hashes), check


ZERO32 = b"\x00" * 32
OWNER_ONLY, ISSUERS = frozenset({"owner"}), frozenset({"issuer", "other"})
ACTIONS = {
    "registerIssuer": Action(_register_issuer, OWNER_ONLY),
    "setIssuerActive": Action(_set_issuer_active, OWNER_ONLY),
    "addKey": Action(_add_key, OWNER_ONLY),
    "retireKey": Action(_retire_key, OWNER_ONLY),
    "anchorRoot": Action(_anchor_root, ISSUERS),
    "revoke": Action(_revoke, ISSUERS),
    "revokeBatch": Action(_revoke_batch, ISSUERS),
    "setStatusList": Action(_set_status_list, ISSUERS),
    "setStatusLists": Action(_set_status_lists, ISSUERS),
}
OWNER_ACTIONS = {name for name, action in ACTIONS.items() if action.allowed == OWNER_ONLY}


@pytest.mark.parametrize("action_name", ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_role_action_matrix(reg, roles, role, action_name):
    action = ACTIONS[action_name]
    sender = roles[role]
    call, check = action.prepare(reg, roles, sender)
    if role in action.allowed:
        check(reg.ok(call, sender))
    else:
        assert reg.refusal(call, sender) == action.refusal_for(action_name, roles, role)


# ------------------------------------------------------------------ issuers

def test_registering_an_issuer_twice_is_refused(reg, roles):
    call = reg.c.functions.registerIssuer(roles.issuer, "did:web:example.org:again", rand32())
    assert reg.refusal(call, roles.owner) == error("IssuerAlreadyRegistered", roles.issuer)


def test_an_empty_did_is_refused(reg, roles):
    call = reg.c.functions.registerIssuer(Account.create().address, "", rand32())
    assert reg.refusal(call, roles.owner) == error("EmptyDid")


def test_a_zero_public_key_is_refused_at_registration_and_rotation(reg, roles):
    zero = b"\x00" * 32
    assert reg.refusal(reg.c.functions.registerIssuer(Account.create().address, "did:web:x", zero),
                       roles.owner) == error("InvalidPublicKey")
    assert reg.refusal(reg.c.functions.addKey(roles.issuer, zero), roles.owner) == error("InvalidPublicKey")


@pytest.mark.parametrize("function", ["setIssuerActive", "addKey", "retireKey"])
def test_owner_actions_on_an_unregistered_account_are_refused(reg, roles, function):
    nobody = Account.create().address
    call = {"setIssuerActive": lambda: reg.c.functions.setIssuerActive(nobody, True),
            "addKey": lambda: reg.c.functions.addKey(nobody, rand32()),
            "retireKey": lambda: reg.c.functions.retireKey(nobody, rand32(), 0, True)}[function]()
    assert reg.refusal(call, roles.owner) == error("IssuerNotRegistered", nobody)
    assert reg.issuer(nobody) == ("", False, 0, 0)


def test_a_suspended_issuer_reinstated_can_anchor_and_revoke_again(reg, roles):
    receipt = reg.ok(reg.c.functions.setIssuerActive(roles.suspended, True), roles.owner)
    assert reg.events(receipt, "IssuerActiveChanged") == [{"account": roles.suspended, "active": True}]
    assert reg.issuer(roles.suspended)[1] is True
    root, h = rand32(), rand32()
    reg.ok(reg.c.functions.anchorRoot(root, 1), roles.suspended)
    reg.ok(reg.c.functions.revoke(h), roles.suspended)
    assert reg.anchor_of(root)[0] == roles.suspended and reg.revoked_at(roles.suspended, h) > 0


def test_suspension_keeps_what_the_issuer_did_before(reg, roles):
    root, h = rand32(), rand32()
    reg.ok(reg.c.functions.anchorRoot(root, 3), roles.issuer)
    revoked = reg.block_time(reg.ok(reg.c.functions.revoke(h), roles.issuer))
    reg.ok(reg.c.functions.setIssuerActive(roles.issuer, False), roles.owner)
    assert reg.anchor_of(root)[0] == roles.issuer
    assert reg.revoked_at(roles.issuer, h) == revoked
    assert reg.refusal(reg.c.functions.anchorRoot(rand32(), 1), roles.issuer) == error("IssuerNotActive", roles.issuer)


# ------------------------------------------------------------------ keys

def test_key_rotation_keeps_the_history(reg, roles):
    account, old = roles.issuer, roles.first_key[roles.issuer]
    registered = reg.issuer(account)[2]
    assert reg.keys(account) == [(old, registered, 0, False)]

    reg.advance(100)
    new = rand32()
    added = reg.block_time(reg.ok(reg.c.functions.addKey(account, new), roles.owner))
    reg.advance(100)
    receipt = reg.ok(reg.c.functions.retireKey(account, old, 0, False), roles.owner)
    retired = reg.block_time(receipt)  # validUntil 0 = the block's time
    assert reg.events(receipt, "KeyRetired") == [
        {"account": account, "publicKey": old, "validUntil": retired, "compromised": False}]

    assert reg.keys(account) == [(old, registered, retired, False), (new, added, 0, False)]
    assert reg.issuer(account)[3] == 2
    # the old key: valid from registration up to (not including) its retirement
    assert not reg.key_valid_at(account, old, registered - 1)
    assert reg.key_valid_at(account, old, registered)
    assert reg.key_valid_at(account, old, retired - 1)
    assert not reg.key_valid_at(account, old, retired)
    assert not reg.key_valid_at(account, old, retired + 10_000)
    # the new key: from its addition on, open-ended
    assert not reg.key_valid_at(account, new, added - 1)
    assert reg.key_valid_at(account, new, added)
    assert reg.key_valid_at(account, new, retired + 10**9)


def test_a_key_retired_for_compromise_invalidates_what_it_signed_afterwards_but_not_before(reg, roles):
    account, key = roles.issuer, roles.first_key[roles.issuer]
    registered = reg.issuer(account)[2]
    reg.advance(1000)
    leaked = registered + 400  # found out now; the key leaked back then
    receipt = reg.ok(reg.c.functions.retireKey(account, key, leaked, True), roles.owner)
    assert reg.events(receipt, "KeyRetired") == [
        {"account": account, "publicKey": key, "validUntil": leaked, "compromised": True}]
    assert reg.keys(account) == [(key, registered, leaked, True)]
    assert reg.key_valid_at(account, key, registered)
    assert reg.key_valid_at(account, key, leaked - 1)
    assert not reg.key_valid_at(account, key, leaked)
    assert not reg.key_valid_at(account, key, registered + 999)


def test_retiring_a_key_at_its_valid_from_means_it_was_never_valid(reg, roles):
    account, key = roles.issuer, roles.first_key[roles.issuer]
    registered = reg.issuer(account)[2]
    reg.advance(10)
    reg.ok(reg.c.functions.retireKey(account, key, registered, True), roles.owner)
    assert reg.keys(account) == [(key, registered, registered, True)]
    assert not reg.key_valid_at(account, key, registered)  # never valid at all


def test_a_compromise_dated_before_the_keys_registration_is_stored_as_given(reg, roles):
    """The issuer learns of a leak older than the key's registration on chain (its own clock ran
    ahead of the chain's, or the registration waited in a queue): never refused for timing."""
    account, key = roles.issuer, roles.first_key[roles.issuer]
    registered = reg.issuer(account)[2]
    leaked = registered - 3600
    receipt = reg.ok(reg.c.functions.retireKey(account, key, leaked, True), roles.owner)
    assert reg.events(receipt, "KeyRetired") == [
        {"account": account, "publicKey": key, "validUntil": leaked, "compromised": True}]
    assert reg.keys(account) == [(key, registered, leaked, True)]  # validUntil < validFrom: never valid
    for t in (leaked - 1, leaked, registered - 1, registered, reg.block_time() + 10**6):
        assert not reg.key_valid_at(account, key, t)


def test_retiring_a_key_registered_in_the_same_block_second_is_accepted(reg, roles):
    """addKey and retireKey one right after the other: validUntil 0 is the block time, never refused."""
    account, new = roles.issuer, rand32()
    added = reg.block_time(reg.ok(reg.c.functions.addKey(account, new), roles.owner))
    receipt = reg.ok(reg.c.functions.retireKey(account, new, 0, False), roles.owner)
    retired = reg.block_time(receipt)
    assert retired >= added
    assert reg.keys(account)[-1] == (new, added, retired, False)
    assert reg.events(receipt, "KeyRetired") == [
        {"account": account, "publicKey": new, "validUntil": retired, "compromised": False}]


def test_a_compromise_in_the_future_means_the_block_time(reg, roles):
    account, key = roles.issuer, roles.first_key[roles.issuer]
    registered = reg.issuer(account)[2]
    until = reg.block_time() + 3600
    receipt = reg.ok(reg.c.functions.retireKey(account, key, until, True), roles.owner)
    now = reg.block_time(receipt)
    assert now < until
    assert reg.keys(account) == [(key, registered, now, True)]
    assert reg.events(receipt, "KeyRetired") == [
        {"account": account, "publicKey": key, "validUntil": now, "compromised": True}]
    assert not reg.key_valid_at(account, key, now)


def test_a_normal_retirement_ahead_of_the_block_clock_is_kept_as_given(reg, roles):
    """The issuer names the second it stopped signing by its own clock, which the block clock may lag."""
    account, key = roles.issuer, roles.first_key[roles.issuer]
    registered = reg.issuer(account)[2]
    until = reg.block_time() + 60
    receipt = reg.ok(reg.c.functions.retireKey(account, key, until, False), roles.owner)
    assert reg.keys(account) == [(key, registered, until, False)]
    assert reg.events(receipt, "KeyRetired") == [
        {"account": account, "publicKey": key, "validUntil": until, "compromised": False}]
    assert reg.key_valid_at(account, key, until - 1) and not reg.key_valid_at(account, key, until)


def test_retiring_a_key_twice_is_refused(reg, roles):
    account, key = roles.issuer, roles.first_key[roles.issuer]
    reg.advance(5)
    reg.ok(reg.c.functions.retireKey(account, key, 0, False), roles.owner)
    before = reg.keys(account)
    assert reg.refusal(reg.c.functions.retireKey(account, key, 0, True), roles.owner) == error(
        "KeyAlreadyRetired", account, key)
    assert reg.keys(account) == before  # still not marked compromised


def test_retiring_an_unknown_key_is_refused(reg, roles):
    unknown = rand32()
    assert reg.refusal(reg.c.functions.retireKey(roles.issuer, unknown, 0, False), roles.owner) == error(
        "KeyNotFound", roles.issuer, unknown)
    # another issuer's key is unknown too: keys are per account
    theirs = roles.first_key[roles.other]
    assert reg.refusal(reg.c.functions.retireKey(roles.issuer, theirs, 0, False), roles.owner) == error(
        "KeyNotFound", roles.issuer, theirs)


def test_adding_a_registered_key_again_is_refused_even_once_retired(reg, roles):
    account, key = roles.issuer, roles.first_key[roles.issuer]
    assert reg.refusal(reg.c.functions.addKey(account, key), roles.owner) == error(
        "KeyAlreadyRegistered", account, key)
    reg.advance(5)
    reg.ok(reg.c.functions.retireKey(account, key, 0, True), roles.owner)
    assert reg.refusal(reg.c.functions.addKey(account, key), roles.owner) == error(
        "KeyAlreadyRegistered", account, key)
    assert len(reg.keys(account)) == 1


def test_a_key_is_valid_only_for_its_own_account(reg, roles):
    key, now = roles.first_key[roles.issuer], reg.block_time()
    assert reg.key_valid_at(roles.issuer, key, now)
    assert not reg.key_valid_at(roles.other, key, now)
    assert not reg.key_valid_at(roles.stranger, key, now)
    assert not reg.key_valid_at(roles.issuer, rand32(), now)


# ------------------------------------------------------------------ anchors

@pytest.mark.parametrize("second", ["issuer", "other"])
def test_a_root_anchored_twice_is_refused_naming_the_first_anchorer(reg, roles, second):
    root = rand32()
    receipt = reg.ok(reg.c.functions.anchorRoot(root, 5), roles.issuer)
    first = reg.anchor_of(root)
    assert reg.refusal(reg.c.functions.anchorRoot(root, 7), roles[second]) == error(
        "RootAlreadyAnchored", root, roles.issuer)
    assert reg.anchor_of(root) == first == (roles.issuer, reg.block_time(receipt), receipt["blockNumber"])


def test_an_empty_root_is_refused(reg, roles):
    zero = b"\x00" * 32
    assert reg.refusal(reg.c.functions.anchorRoot(zero, 1), roles.issuer) == error("EmptyRoot")
    assert reg.anchor_of(zero) == (ZERO_ADDRESS, 0, 0)


def test_a_root_of_zero_leaves_is_refused(reg, roles):
    root = rand32()
    assert reg.refusal(reg.c.functions.anchorRoot(root, 0), roles.issuer) == error("EmptyBatch")
    assert reg.anchor_of(root) == (ZERO_ADDRESS, 0, 0)


def test_an_unanchored_root_reads_as_empty(reg, roles):
    assert reg.anchor_of(rand32()) == (ZERO_ADDRESS, 0, 0)


# ------------------------------------------------------------------ revocations

def test_revoking_a_revoked_hash_is_refused(reg, roles):
    h = rand32()
    at = reg.block_time(reg.ok(reg.c.functions.revoke(h), roles.issuer))
    reg.advance(60)
    assert reg.refusal(reg.c.functions.revoke(h), roles.issuer) == error("AlreadyRevoked", roles.issuer, h)
    assert reg.refusal(reg.c.functions.revokeBatch([rand32(), h]), roles.issuer) == error(
        "AlreadyRevoked", roles.issuer, h)
    assert reg.revoked_at(roles.issuer, h) == at  # the first revocation's time stands


def test_an_empty_revocation_batch_is_refused(reg, roles):
    assert reg.refusal(reg.c.functions.revokeBatch([]), roles.issuer) == error("EmptyBatch")


def test_a_batch_with_a_duplicate_writes_nothing(reg, roles):
    hashes = [rand32() for _ in range(5)]
    batch = hashes[:3] + [hashes[1]] + hashes[3:]
    assert reg.refusal(reg.c.functions.revokeBatch(batch), roles.issuer) == error(
        "AlreadyRevoked", roles.issuer, hashes[1])
    assert [reg.revoked_at(roles.issuer, h) for h in hashes] == [0] * 5


def test_a_batch_with_one_already_revoked_hash_writes_nothing(reg, roles):
    done, fresh = rand32(), [rand32() for _ in range(4)]
    reg.ok(reg.c.functions.revoke(done), roles.issuer)
    assert reg.refusal(reg.c.functions.revokeBatch(fresh[:2] + [done] + fresh[2:]), roles.issuer) == error(
        "AlreadyRevoked", roles.issuer, done)
    assert [reg.revoked_at(roles.issuer, h) for h in fresh] == [0] * 4


def test_revocations_are_per_issuer(reg, roles):
    h = rand32()
    at = reg.block_time(reg.ok(reg.c.functions.revoke(h), roles.other))
    assert reg.revoked_at(roles.other, h) == at
    assert reg.revoked_at(roles.issuer, h) == 0  # B's revocation says nothing about A's credential
    # and A can still revoke the same hash in its own namespace
    reg.advance(30)
    mine = reg.block_time(reg.ok(reg.c.functions.revokeBatch([h]), roles.issuer))
    assert reg.revoked_at(roles.issuer, h) == mine > at
    assert reg.revoked_at(roles.other, h) == at


# ------------------------------------------------------------------ status lists

def test_a_status_list_never_set_reads_as_zeros(reg, roles):
    assert reg.status_list(roles.issuer, rand32()) == (ZERO32, 0)
    assert reg.status_list(roles.stranger, rand32()) == (ZERO32, 0)


def test_the_latest_status_list_hash_wins_with_its_block_time(reg, roles):
    list_id, first, second = rand32(), rand32(), rand32()
    set_first = reg.block_time(reg.ok(reg.c.functions.setStatusList(list_id, first), roles.issuer))
    assert reg.status_list(roles.issuer, list_id) == (first, set_first)
    reg.advance(60)
    receipt = reg.ok(reg.c.functions.setStatusList(list_id, second), roles.issuer)
    assert reg.status_list(roles.issuer, list_id) == (second, reg.block_time(receipt)) and reg.block_time(receipt) > set_first
    assert reg.events(receipt, "StatusListSet") == [{"issuer": roles.issuer, "listId": list_id, "listHash": second}]
    # an earlier hash may come back (a suspension lifted): it is simply the latest again
    reg.advance(60)
    again = reg.ok(reg.c.functions.setStatusList(list_id, first), roles.issuer)
    assert reg.status_list(roles.issuer, list_id) == (first, reg.block_time(again))


def test_a_zero_status_list_hash_is_refused_and_writes_nothing(reg, roles):
    list_id, kept = rand32(), rand32()
    at = reg.block_time(reg.ok(reg.c.functions.setStatusList(list_id, kept), roles.issuer))
    assert reg.refusal(reg.c.functions.setStatusList(list_id, ZERO32), roles.issuer) == error("EmptyListHash")
    assert reg.refusal(reg.c.functions.setStatusList(rand32(), ZERO32), roles.issuer) == error("EmptyListHash")
    # in a batch: all or none
    fresh = rand32()
    assert reg.refusal(reg.c.functions.setStatusLists([fresh, list_id], [rand32(), ZERO32]),
                       roles.issuer) == error("EmptyListHash")
    assert reg.status_list(roles.issuer, list_id) == (kept, at)
    assert reg.status_list(roles.issuer, fresh) == (ZERO32, 0)


def test_status_lists_are_per_issuer_account(reg, roles):
    """Issuer B setting A's list id changes nothing for A: each account has its own namespace."""
    list_id, mine, theirs = rand32(), rand32(), rand32()
    at = reg.block_time(reg.ok(reg.c.functions.setStatusList(list_id, mine), roles.issuer))
    reg.advance(30)
    receipt = reg.ok(reg.c.functions.setStatusList(list_id, theirs), roles.other)
    assert reg.status_list(roles.issuer, list_id) == (mine, at)
    assert reg.status_list(roles.other, list_id) == (theirs, reg.block_time(receipt))
    reg.ok(reg.c.functions.setStatusLists([list_id], [rand32()]), roles.other)
    assert reg.status_list(roles.issuer, list_id) == (mine, at)


def test_a_status_list_batch_applies_in_order_and_its_lengths_must_match(reg, roles):
    a, b = rand32(), rand32()
    h1, h2, h3 = rand32(), rand32(), rand32()
    receipt = reg.ok(reg.c.functions.setStatusLists([a, b, a], [h1, h2, h3]), roles.issuer)
    now = reg.block_time(receipt)
    assert reg.status_list(roles.issuer, a) == (h3, now)  # the last one of a list wins
    assert reg.status_list(roles.issuer, b) == (h2, now)
    assert [e["listHash"] for e in reg.events(receipt, "StatusListSet")] == [h1, h2, h3]
    assert reg.refusal(reg.c.functions.setStatusLists([a, b], [h1]), roles.issuer) == error("LengthMismatch", 2, 1)
    assert reg.refusal(reg.c.functions.setStatusLists([a], [h1, h2]), roles.issuer) == error("LengthMismatch", 1, 2)
    assert reg.refusal(reg.c.functions.setStatusLists([], []), roles.issuer) == error("EmptyBatch")
    assert reg.status_list(roles.issuer, a) == (h3, now)


def test_a_suspended_issuer_keeps_its_status_lists_but_cannot_change_them(reg, roles):
    list_id, kept = rand32(), rand32()
    reg.ok(reg.c.functions.setIssuerActive(roles.suspended, True), roles.owner)
    at = reg.block_time(reg.ok(reg.c.functions.setStatusList(list_id, kept), roles.suspended))
    reg.ok(reg.c.functions.setIssuerActive(roles.suspended, False), roles.owner)
    assert reg.refusal(reg.c.functions.setStatusList(list_id, rand32()), roles.suspended) == error(
        "IssuerNotActive", roles.suspended)
    assert reg.refusal(reg.c.functions.setStatusLists([list_id], [rand32()]), roles.suspended) == error(
        "IssuerNotActive", roles.suspended)
    assert reg.status_list(roles.suspended, list_id) == (kept, at)


def _storage_writes(reg: Registry, receipt) -> dict[str, set[str]]:
    """Storage slots the transaction changed, per contract (anvil's prestateTracer in diff mode)."""
    trace = reg.chain.rpc("debug_traceTransaction", receipt["transactionHash"].to_0x_hex(),
                          {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}})
    post = trace["post"]
    return {address.lower(): set((state.get("storage") or {}).keys()) for address, state in post.items()
            if state.get("storage")}


def test_a_status_list_update_writes_two_slots_whatever_it_changes(reg, roles):
    """The hash (32 bytes) takes one slot, its time a second; nothing grows with the list's entries."""
    list_id = rand32()
    contract = reg.c.address.lower()
    first = reg.ok(reg.c.functions.setStatusList(list_id, rand32()), roles.issuer)
    assert {k: len(v) for k, v in _storage_writes(reg, first).items()} == {contract: 2}
    reg.advance(1)
    later = reg.ok(reg.c.functions.setStatusList(list_id, rand32()), roles.issuer)
    assert _storage_writes(reg, later) == _storage_writes(reg, first)  # the same two slots
    pair = reg.ok(reg.c.functions.setStatusLists([rand32(), rand32()], [rand32(), rand32()]), roles.issuer)
    assert {k: len(v) for k, v in _storage_writes(reg, pair).items()} == {contract: 4}
    # an update of a list that exists costs the same whatever hash it sets
    gas = set()
    for _ in range(3):
        reg.advance(60)  # one interval later: the time slot changes too, as on a real chain
        gas.add(reg.ok(reg.c.functions.setStatusList(list_id, rand32()), roles.issuer)["gasUsed"])
    assert max(gas) - min(gas) < 300  # calldata bytes only (a zero byte is cheaper)
    assert max(gas) < 40_000 and first["gasUsed"] < 75_000


# ------------------------------------------------------------------ fuzzed

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(roots=st.lists(st.binary(min_size=32, max_size=32).filter(any), min_size=1, max_size=4, unique=True),
       leaf_counts=st.lists(st.integers(min_value=1, max_value=2**256 - 1), min_size=4, max_size=4),
       hashes=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=6, unique=True),
       who=st.sampled_from(["issuer", "other"]), batch=st.booleans())
def test_fuzzed_anchors_and_revocations_read_back(chain, reg, roles, roots, leaf_counts, hashes, who, batch):
    snapshot = chain.snapshot()
    try:
        sender, bystander = roles[who], roles["other" if who == "issuer" else "issuer"]
        for root, count in zip(roots, leaf_counts):
            receipt = reg.ok(reg.c.functions.anchorRoot(root, count), sender)
            assert reg.anchor_of(root) == (sender, reg.block_time(receipt), receipt["blockNumber"])
            assert reg.events(receipt, "RootAnchored") == [{"issuer": sender, "root": root, "leafCount": count}]
        if batch:
            receipts = [reg.ok(reg.c.functions.revokeBatch(hashes), sender)] * len(hashes)
        else:
            receipts = [reg.ok(reg.c.functions.revoke(h), sender) for h in hashes]
        for h, receipt in zip(hashes, receipts):
            assert reg.revoked_at(sender, h) == reg.block_time(receipt)
            assert reg.revoked_at(bystander, h) == 0
        assert reg.refusal(reg.c.functions.anchorRoot(roots[0], 1), bystander) == error(
            "RootAlreadyAnchored", roots[0], sender)
    finally:
        chain.revert(snapshot)
    assert all(reg.anchor_of(root)[0] == ZERO_ADDRESS for root in roots)  # each example starts clean


# ------------------------------------------------------------------ gas

def test_gas_figures(reg, roles):
    anchor = reg.ok(reg.c.functions.anchorRoot(rand32(), 1000), roles.issuer)["gasUsed"]
    assert anchor < 100_000
    revoke = reg.ok(reg.c.functions.revoke(rand32()), roles.issuer)["gasUsed"]
    per_hash = {}
    for n in (10, 100):
        used = reg.ok(reg.c.functions.revokeBatch([rand32() for _ in range(n)]), roles.issuer)["gasUsed"]
        per_hash[n] = used / n
    owner = {}
    account = Account.create().address
    owner["registerIssuer"] = reg.ok(reg.c.functions.registerIssuer(account, "did:web:example.org:issuers:" + "x" * 12,
                                                                    rand32()), roles.owner)["gasUsed"]
    second = rand32()
    owner["addKey"] = reg.ok(reg.c.functions.addKey(account, second), roles.owner)["gasUsed"]
    first = reg.keys(account)[0][0]
    owner["retireKey (0)"] = reg.ok(reg.c.functions.retireKey(account, first, 0, False), roles.owner)["gasUsed"]
    registered = reg.issuer(account)[2]
    # the first key of another account, like the one above: the scan of the key history costs the same
    other_first = roles.first_key[roles.other]
    owner["retireKey (past, compromised)"] = reg.ok(
        reg.c.functions.retireKey(roles.other, other_first, reg.issuer(roles.other)[2] - 60, True),
        roles.owner)["gasUsed"]
    owner["retireKey (second key)"] = reg.ok(reg.c.functions.retireKey(account, second, registered - 60, True),
                                             roles.owner)["gasUsed"]
    owner["setIssuerActive"] = reg.ok(reg.c.functions.setIssuerActive(account, False), roles.owner)["gasUsed"]
    print(f"\ngas: anchorRoot {anchor}, revoke {revoke}, revokeBatch per hash "
          + ", ".join(f"{per_hash[n]:.0f} at {n}" for n in per_hash) + "; "
          + ", ".join(f"{name} {used}" for name, used in owner.items()))
    # a batch amortises the transaction's base cost: cheaper per hash than one revoke each
    assert per_hash[100] < per_hash[10] < revoke
    assert max(used for name, used in owner.items() if name.startswith("retireKey")) < 60_000


def test_a_batch_of_ten_thousand_credentials_is_one_anchor_under_100k_gas(reg, roles):
    from services.core.merkle import MerkleTree

    hashes = [rand32() for _ in range(10_000)]
    tree = MerkleTree.build(hashes)
    receipt = reg.ok(reg.c.functions.anchorRoot(tree.root, len(hashes)), roles.issuer)
    assert receipt["gasUsed"] < 100_000
    assert reg.anchor_of(tree.root)[0] == roles.issuer
    for h in (hashes[0], hashes[4_999], hashes[-1]):
        assert reg.c.functions.verifyInclusion(tree.root, tree.proof(h), h).call()


# ------------------------------------------------------------------ ownership

def test_ownership_moves_only_when_the_new_owner_accepts(reg, roles):
    assert reg.refusal(reg.c.functions.transferOwnership(roles.issuer), roles.issuer) == error(
        "OwnableUnauthorizedAccount", roles.issuer)
    reg.ok(reg.c.functions.transferOwnership(roles.other), roles.owner)
    assert reg.c.functions.owner().call() == roles.owner  # still, until accepted
    assert reg.c.functions.pendingOwner().call() == roles.other
    assert reg.refusal(reg.c.functions.acceptOwnership(), roles.issuer) == error(
        "OwnableUnauthorizedAccount", roles.issuer)
    reg.ok(reg.c.functions.acceptOwnership(), roles.other)
    assert reg.c.functions.owner().call() == roles.other
    assert reg.refusal(reg.c.functions.addKey(roles.issuer, rand32()), roles.owner) == error(
        "OwnableUnauthorizedAccount", roles.owner)
    reg.ok(reg.c.functions.addKey(roles.issuer, rand32()), roles.other)


# ------------------------------------------------------------------ the dev chain (services/devchain)

def test_the_dev_keys_are_anvils_accounts_from_the_dev_mnemonic(devnet):
    from services.devchain.deploy import DEV_ADDRESSES, DEV_MNEMONIC, OPERATOR_ADDRESS

    Account.enable_unaudited_hdwallet_features()
    derived = [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").address
               for i in range(len(DEV_ADDRESSES))]
    assert derived == list(DEV_ADDRESSES)
    # anvil lists its dev accounts first (then any account a test impersonated)
    assert devnet.w3.eth.accounts[:len(DEV_ADDRESSES)] == list(DEV_ADDRESSES)
    assert all(devnet.w3.eth.get_balance(a) > 0 for a in DEV_ADDRESSES)
    assert OPERATOR_ADDRESS == DEV_ADDRESSES[0] == devnet.owner


def test_deploy_registry_takes_an_account_or_its_key(chain):
    from services.devchain.deploy import DEV_KEYS, deploy_registry

    by_account = deploy_registry(chain.w3, Account.from_key(DEV_KEYS[5]))
    by_key = deploy_registry(chain.w3, DEV_KEYS[6])
    for address, key in ((by_account, DEV_KEYS[5]), (by_key, DEV_KEYS[6])):
        contract = chain.w3.eth.contract(address=address, abi=chain.contract.abi)
        assert contract.functions.owner().call() == Account.from_key(key).address


def test_a_dev_chain_with_a_state_file_keeps_everything_across_a_restart(tmp_path):
    from web3 import HTTPProvider, Web3

    from services.devchain.anvil import Anvil
    from services.devchain.deploy import DEV_KEYS, ensure_deployed

    state, root = tmp_path / "chain" / "state.json", rand32()
    first = Anvil(state_path=state)
    with first:
        deployment = ensure_deployed(first.rpc_url, tmp_path)
        w3 = Web3(HTTPProvider(first.rpc_url))
        registry = w3.eth.contract(address=deployment["contract"], abi=ABI)
        owner, issuer = (Account.from_key(k) for k in DEV_KEYS[:2])
        for sender, fn in ((owner, registry.functions.registerIssuer(issuer.address, "did:web:example.org", rand32())),
                           (issuer, registry.functions.anchorRoot(root, 3))):
            tx = fn.build_transaction({"from": sender.address, "nonce": w3.eth.get_transaction_count(sender.address)})
            sent = w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
            assert w3.eth.wait_for_transaction_receipt(sent, poll_latency=0.05)["status"] == 1
        anchored, head = registry.functions.anchorOf(root).call(), w3.eth.block_number
    assert not first.running() and state.exists()  # SIGTERM: anvil dumped its state and exited

    with Anvil(state_path=state) as second:
        assert ensure_deployed(second.rpc_url, tmp_path) == deployment  # found, not deployed again
        w3 = Web3(HTTPProvider(second.rpc_url))
        assert w3.eth.block_number == head
        registry = w3.eth.contract(address=deployment["contract"], abi=ABI)
        assert registry.functions.anchorOf(root).call() == anchored
        assert registry.functions.issuer(Account.from_key(DEV_KEYS[1]).address).call()[1] is True
