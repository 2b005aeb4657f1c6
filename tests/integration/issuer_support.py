"""Helpers for the issuer's integration tests: the app on a migrated database, a fake registry."""

from __future__ import annotations

import base64
import os
import struct
import threading
import zlib
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.core.db import make_engine, make_sessionmaker
from services.issuer.app import create_app
from services.issuer.registry_client import ChainAccount, RegistryRefused, RegistryUnavailable
from services.issuer.settings import IssuerSettings
from tests.support import issuers
from tests.support.issuers import auth  # noqa: F401 - the integration tests' name for it

ADMIN = "admin-token-for-issuer-tests-0123"
SCHEMA = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "ob3" / \
    "ob_v3p0_achievementcredential_schema.json"


class FakeRegistry:
    """The registry port in memory: records what it is told, answers receipts as a test sets them."""

    def __init__(self) -> None:
        self.up = True
        self.accounts: dict[str, dict] = {}
        self.anchored: dict[str, str] = {}  # hash -> issuer
        self.anchor_keys: dict[str, str | None] = {}  # hash -> the public key it was queued with
        self.revoked: list[tuple[str, str]] = []
        self.rotations: list[tuple[str, dict]] = []
        self.receipts: dict[str, dict] = {}
        self.key_failures: dict[str, dict] = {}  # public key -> KeyChainState fields to report
        self.status_lists: list[tuple[str, str, str, int]] = []  # (issuer, list id, hash, version) as queued
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def _check(self, what: str) -> None:
        self.calls.append(what)
        if not self.up:
            raise RegistryUnavailable("registry unreachable: test says down")

    def create_issuer(self, issuer_id, did, public_key, timeout=None):
        self._check("create_issuer")
        account = self.accounts.setdefault(issuer_id, {"did": did, "public_key": public_key,
                                                       "address": "0x" + os.urandom(20).hex(), "state": "registering"})
        return ChainAccount(account["address"], account["state"])

    def get_issuer(self, issuer_id):
        self._check("get_issuer")
        if issuer_id not in self.accounts:
            raise RegistryRefused(404, "not_found", "no account")
        a = self.accounts[issuer_id]
        return ChainAccount(a["address"], a["state"])

    def rotate_key(self, issuer_id, body):
        self._check("rotate_key")
        if issuer_id not in self.accounts:
            raise RegistryRefused(404, "not_found", "no account")
        self.rotations.append((issuer_id, body))
        a = self.accounts[issuer_id]
        return ChainAccount(a["address"], a["state"])

    def key_states(self, issuer_id):
        """Each key the issuer told us of, ``confirmed`` unless a test put a state in ``key_failures``."""
        from services.issuer.registry_client import KeyChainState

        self._check("key_states")
        account = self.accounts.get(issuer_id)
        if account is None:
            raise RegistryRefused(404, "not_found", "no account")
        keys = [account["public_key"]] + [r["public_key"] for i, r in self.rotations if i == issuer_id]
        retired = {r["retire"]: r for i, r in self.rotations if i == issuer_id}
        states = []
        for key in keys:
            failure = self.key_failures.get(key, {})
            retirement = retired.get(key)
            states.append(KeyChainState(
                public_key=key, state=failure.get("state", "confirmed"), valid_from=1, error=failure.get("error"),
                anchors_waiting=0, retirement_state=failure.get("retirement_state", "confirmed") if retirement else None,
                valid_until=None, compromised=bool(retirement and retirement.get("compromised")),
                retirement_error=failure.get("retirement_error")))
        return states

    def queue_anchors(self, issuer_id, hashes, public_key=None, flush=False):
        self._check("queue_anchors")
        if issuer_id not in self.accounts:
            raise RegistryRefused(404, "not_found", "no account")
        with self.lock:
            for h in hashes:
                self.anchored.setdefault(h, issuer_id)
                self.anchor_keys.setdefault(h, public_key)
        return {"issuer_id": issuer_id, "queued": len(hashes), "already_queued": 0}

    def queue_revocations(self, issuer_id, hashes):
        self._check("queue_revocations")
        if issuer_id not in self.accounts:
            raise RegistryRefused(404, "not_found", "no account")
        self.revoked.extend((issuer_id, h) for h in hashes)
        return {"issuer_id": issuer_id, "queued": len(hashes), "already_queued": 0}

    def anchor_receipt(self, credential_hash):
        self._check("anchor_receipt")
        if credential_hash not in self.anchored:
            return None
        issuer_id = self.anchored[credential_hash]
        return self.receipts.get(credential_hash) or {
            "hash": credential_hash, "state": "queued", "account": self.accounts[issuer_id]["address"],
            "chainId": None, "contract": None, "root": None, "proof": None, "txHash": None, "blockNumber": None,
            "confirmations": None}

    def anchor_receipts(self, hashes):
        return [self.anchor_receipt(h) for h in hashes]

    def confirm_all(self, block: int = 7) -> None:
        """Pretend every queued hash was anchored (one fake root per call)."""
        root = "0x" + os.urandom(32).hex()
        for h, issuer_id in self.anchored.items():
            self.receipts.setdefault(h, {
                "hash": h, "state": "confirmed", "account": self.accounts[issuer_id]["address"], "chainId": 31337,
                "contract": "0x" + "cd" * 20, "root": root, "proof": ["0x" + os.urandom(32).hex()],
                "txHash": "0x" + os.urandom(32).hex(), "blockNumber": block, "confirmations": 1})

    def chain(self):
        self._check("chain")
        return {"chainId": 31337}

    def queue_status_list(self, issuer_id, list_id, list_hash, version):
        """Like the registry: idempotent per version, 409 for the same version with another hash."""
        self._check("queue_status_list")
        if issuer_id not in self.accounts:
            raise RegistryRefused(404, "not_found", "no account")
        with self.lock:
            known = {(i, lid, v): h for i, lid, h, v in self.status_lists}
            if known.get((issuer_id, list_id, version), list_hash) != list_hash:
                raise RegistryRefused(409, "status_list_conflict", "that version has another hash")
            if (issuer_id, list_id, version) not in known:
                self.status_lists.append((issuer_id, list_id, list_hash, version))
            newest = max(v for i, lid, _, v in self.status_lists if (i, lid) == (issuer_id, list_id))
        return {"issuer_id": issuer_id, "list_id": list_id, "version": version,
                "state": "queued" if version == newest else "superseded"}

    def status_list(self, issuer_id, list_id):
        self._check("status_list")
        versions = [(v, h) for i, lid, h, v in self.status_lists if (i, lid) == (issuer_id, list_id)]
        if not versions:
            return None
        version, list_hash = max(versions)
        return {"issuer_id": issuer_id, "list_id": list_id, "version": version, "hash": list_hash,
                "state": "queued", "txHash": None, "blockNumber": None, "setAt": None}

    def newest_status_list(self, list_id: str) -> tuple[int, str] | None:
        """(version, hash) of the newest version queued for ``list_id``, whoever's."""
        versions = [(v, h) for _, lid, h, v in self.status_lists if lid == list_id]
        return max(versions) if versions else None


def settings_for(database_url: str, tmp_path: Path, **overrides) -> IssuerSettings:
    values = dict(data_dir=tmp_path, database_url=database_url, admin_token=ADMIN,
                  service_token="service-token-for-tests-0123456789", key_encryption_key="kek-for-issuer-tests-0123",
                  registry_url="http://127.0.0.1:1", public_base_url="http://verify.test",
                  issuer_url="http://issuer.test:8001", sign_processes=1, batch_chunk=50, outbox_interval=0.05)
    values.update(overrides)
    return IssuerSettings(**values)


@contextmanager
def issuer_client(database_url: str, tmp_path: Path, registry: FakeRegistry | None = None, **overrides):
    settings = settings_for(database_url, tmp_path, **overrides)
    registry = registry or FakeRegistry()
    with TestClient(create_app(settings, registry=registry)) as client:
        client.settings = settings
        client.registry = registry
        client.sessions = make_sessionmaker(make_engine(database_url))
        yield client


def count(client, model) -> int:
    with client.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def create_issuer(client, slug: str = "lakeside", **extra) -> dict:
    return issuers.create_issuer(client, ADMIN, slug, **extra)


ACHIEVEMENT = {
    "name": "Critical Thinking",
    "description": "Analyses arguments, weighs evidence and reaches well-reasoned conclusions.",
    "criteria": {"narrative": "Completed the course and its capstone.", "id": "https://lakeside.example.edu/ct"},
    "achievementType": "MicroCredential",
    "alignment": [{"targetName": "Critical Thinking", "targetUrl": "https://www.onetonline.org/x",
                   "targetFramework": "O*NET", "targetCode": "2.A.2.a"}],
    "tags": ["critical thinking"],
    "validity_days": 730,
}


def create_achievement(client, key: str, **overrides) -> dict:
    return issuers.create_achievement(client, key, **{**ACHIEVEMENT, **overrides})


def issue(client, key: str, achievement_id: str, **kwargs) -> dict:
    """One credential; 200 too, for the tests that replay an Idempotency-Key."""
    return issuers.issue(client, key, achievement_id, expect=(200, 201), **kwargs)


def status_entry(credential: dict, purpose: str) -> dict:
    """The credential's BitstringStatusListEntry of ``purpose``."""
    return next(e for e in credential["credentialStatus"] if e["statusPurpose"] == purpose)


def served_bit(client, credential: dict, purpose: str, list_hash: str | None = None) -> bool:
    """The credential's bit in the list version the issuer serves (the newest, or the one with ``list_hash``)."""
    from services.core import statuslist

    entry = status_entry(credential, purpose)
    path = entry["statusListCredential"].removeprefix(client.settings.issuer_url)
    r = client.get(path + (f"/versions/{list_hash}" if list_hash else ""))
    assert r.status_code == 200, r.text
    bits = statuslist.read_list(r.json(), entry["statusListCredential"], purpose, credential["issuer"]["id"])
    return statuslist.get_bit(bits, int(entry["statusListIndex"]))


def registry_bit(client, credential: dict, purpose: str) -> bool | None:
    """The credential's bit in the newest list version queued at the (fake) registry; None if none is."""
    from services.core import statuslist

    url = status_entry(credential, purpose)["statusListCredential"]
    newest = client.registry.newest_status_list("0x" + statuslist.list_id(url).hex())
    return None if newest is None else served_bit(client, credential, purpose, newest[1])


def tiny_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"\x00\xff\x00\x00" * 1
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def data_uri(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def anchor_everything(client) -> None:
    """Relay every pending credential to the fake registry, confirm it all, and attach the anchor proofs."""
    from sqlalchemy import update

    from services.issuer.models import Credential
    from services.issuer.outbox import Relay

    relay = Relay(client.settings, client.sessions, client.registry)
    try:
        relay.tick()
        client.registry.confirm_all()
        with client.sessions.begin() as s:
            s.execute(update(Credential).values(anchor_next_poll_at=None))  # ask again now, not after the backoff
        relay.tick()
    finally:
        relay.close()
