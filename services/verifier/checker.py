"""Gathers the facts of the checks (docs/verifier.md) over I/O, then lets the pure rules decide.

Sources, and how far each is trusted:

* the credential itself — hostile until proven: shape, safe-mode canonicalisation, signature;
* the issuer's DID document — only to find the signing key; the chain must confirm it;
* the anchoring receipt — embedded in the credential, or from the registry while the
  embedded one is not there yet; it is only a pointer: every claim in it is re-checked;
* the contract, over JSON-RPC — the authority for issuers, keys, anchors and revocations.

Caches: the expensive, immutable part of a verdict (canonical hash and signature) by the
SHA-256 of the exact document; confirmed anchors by root (in :mod:`chainview`); issuer
records for seconds; whole reports by credential id for ``report_ttl`` seconds only, so a
revocation shows within seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from services.core import anchorproof, statuslist
from services.core.credential import CredentialFormatError, check_shape, summary, validity
from services.core.did import did_web
from services.core.dataintegrity import ProofError, find_proof, find_proofs, verify_all
from services.core.errors import UpstreamUnavailable
from services.core.jsonld import JsonLdDocumentError, credential_hash
from services.core.merkle import leaf_hash, process_proof
from services.core.multiformats import MultiformatError, decode_public_key
from services.core.verification import Facts, KeyOnChain, Report, evaluate
from services.verifier.chainview import ChainReadError, ChainView
from services.verifier.lru import LRU
from services.verifier import components as stack, didweb
from services.verifier.endorsements import Endorsements
from services.verifier.fetch import FetchRefused, fetch_json
from services.verifier.statuscheck import StatusLists, verified_bits

MAX_CREDENTIAL_BYTES = 256 * 1024


@dataclass
class Verdict:
    """What a document's bytes alone decide; cached by the document's SHA-256."""

    format_error: str | None
    credential_hash: str | None
    signature_valid: bool | None
    signature_error: str | None
    signed_at: datetime | None
    public_key: str | None
    verification_method: str | None
    kind: str | None = None  # what check_shape said: ob3, vc2 or vc1 (None for a malformed document)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def hash_or_verdict(credential: Any) -> tuple[str, bytes] | Verdict:
    """The first half of :func:`document_verdict`: the credential's kind and hash, or the verdict on
    a malformed document (exactly what ``document_verdict`` says of it), without checking any signature."""
    try:
        # check_shape holds the credential to limits stricter than canonicalize's: not walked again.
        return check_shape(credential), credential_hash(credential, size_checked=True)
    except (CredentialFormatError, JsonLdDocumentError) as exc:
        return Verdict(str(exc), None, None, None, None, None, None)


def document_verdict(credential: dict, keys: Mapping[str, bytes] | None = None, *,
                     document_hash: bytes | None = None, kind: str | None = None) -> Verdict:
    """Shape, safe-mode canonical hash and the eddsa-rdfc-2022 signatures: pure CPU work.

    ``document_hash`` and ``kind``: the credential hash (``jsonld.credential_hash``) and its kind
    (``check_shape``), when :func:`hash_or_verdict` computed them already; the shape is then
    not checked again.

    Every eddsa-rdfc-2022 proof in the set (or chain) must verify, and each must name its key
    by the verification method's multikey fragment (``did:…#z6Mk…``) or a ``did:key``;
    whether the key belongs to the issuer is the chain's to say. The verdict reports the first
    such proof's key, verification method and ``created`` (None when the proof has none).
    """
    try:
        kind = kind or check_shape(credential)
    except CredentialFormatError as exc:
        return Verdict(str(exc), None, None, None, None, None, None)
    try:
        key_for = _key_from_verification_method if keys is None else _key_in(keys)
        result = verify_all(credential, key_for, document_hash=document_hash)
        first = result.proofs[0]
        public_key = key_for(first.verification_method)
    except JsonLdDocumentError as exc:
        return Verdict(str(exc), None, None, None, None, None, None)
    except (ProofError, ValueError) as exc:
        # The document hash is still ours to compute (the anchor checks do not need the proof),
        # and a body that is not in strict compact form is a format failure whatever the proof.
        try:
            document_hash = "0x" + credential_hash(credential).hex()
        except JsonLdDocumentError as format_error:
            return Verdict(str(format_error), None, None, None, None, None, None)
        return Verdict(None, document_hash, None, str(exc), None, None, None, kind)
    failing = next((proof for proof in result.proofs if not proof.valid), None)
    # A signature that does not match is the rules' own "does not match"; any other reason
    # (an expired proof, a previousProof naming no proof, a failing link) is said as it is.
    error = failing.error if failing is not None and failing.signature_valid is not False else None
    return Verdict(None, "0x" + result.document_hash.hex(), result.valid, error, first.created,
                   "0x" + public_key.hex(), first.verification_method, kind)


def _expires(credential: Any) -> bool:
    """Whether an eddsa-rdfc-2022 proof carries ``expires``: its verdict then changes with time."""
    try:
        return any("expires" in proof for proof in find_proofs(credential))
    except ProofError:
        return False


def _key_in(keys: Mapping[str, bytes]):
    """The key of a verification method the issuer's DID document lists (another platform's did:web)."""
    def key_for(vm: Any) -> bytes:
        if not isinstance(vm, str) or vm not in keys:
            raise ValueError("the verification method is not an assertion key in the issuer's DID document")
        return keys[vm]
    return key_for


def _key_from_verification_method(vm: Any) -> bytes:
    if not isinstance(vm, str) or len(vm) > 2048:
        raise ValueError("the proof names no verification method")
    fragment = vm.split("#", 1)[1] if "#" in vm else vm.removeprefix("did:key:")
    if not fragment.startswith("z6Mk"):
        raise ValueError("the verification method is not an Ed25519 multikey")
    try:
        return decode_public_key(fragment)
    except MultiformatError:
        raise ValueError("the verification method's key is malformed") from None


def key_controller(verification_method: str | None) -> str | None:
    """The DID a verification method belongs to: the part before ``#`` (a did:key is its own)."""
    if not isinstance(verification_method, str):
        return None
    return verification_method.split("#", 1)[0]


REVOCATION_LIST_1EDTECH = "1EdTechRevocationList"


def _other_status_types(credential_status: Any) -> list[tuple[str, Any]]:
    """(type, id) of each status entry that is not a BitstringStatusListEntry."""
    items = credential_status if isinstance(credential_status, list) else [credential_status] if credential_status else []
    found = []
    for item in items:
        types = item.get("type") if isinstance(item, dict) else None
        types = [types] if isinstance(types, str) else types if isinstance(types, list) else ["(none)"]
        if statuslist.ENTRY_TYPE not in types:
            found.append((str(types[0])[:100], item.get("id") if isinstance(item, dict) else None))
    return found


def _list_unreadable(facts: Facts, what: str, exc: FetchRefused) -> None:
    """A list that did not answer right now decides nothing; one refused for what it is fails the check."""
    if getattr(exc, "transient", False):
        facts.unavailable.setdefault("revocation", f"{what} could not be read: {exc}")
    else:
        facts.status_list_error = f"{what} could not be read: {exc}"


def _take_list_states(facts: Facts, states: list) -> None:
    for state in states:
        if state.transient:
            facts.unavailable.setdefault("revocation", state.transient)
        elif state.error:
            facts.status_list_error = facts.status_list_error or state.error
        elif state.pending:
            facts.status_list_pending = True
        elif state.set and state.purpose == "revocation":
            facts.revoked_in_list = True
        elif state.set and state.purpose == "suspension":
            facts.suspended_in_list = True


def _embedded_receipt(credential: Any) -> tuple[anchorproof.AnchorReceipt | None, str | None] | None:
    """The credential's own anchor proof, decoded: (receipt, None), (None, why it is malformed), or None if it has none."""
    proof = anchorproof.find(credential.get("proof")) if isinstance(credential, dict) else None
    if proof is None:
        return None
    try:
        return anchorproof.decode(proof), None
    except anchorproof.AnchorProofError as exc:
        return None, str(exc)


def _chain_read(receipt: anchorproof.AnchorReceipt, credential_hash: str, entries: list[statuslist.Entry]) -> dict:
    """The arguments of a verification's one chain read (``ChainView.read_for_verification``)."""
    return {"root": receipt.root, "head": True, "account": receipt.account, "credential_hash": credential_hash,
            "tx_hash": receipt.tx_hash, "status_lists": tuple(statuslist.list_id(e.list_url) for e in entries)}


def _chain_unavailable(facts: Facts, why: str) -> None:
    for check_id in ("issuer", "anchor", "revocation"):
        facts.unavailable.setdefault(check_id, why)


def _did_key_matches(did: str, public_key_hex: str | None) -> bool:
    """A did:key names its own key: it is the issuer's if it is the key that signed."""
    try:
        return public_key_hex is not None and "0x" + decode_public_key(did.removeprefix("did:key:")).hex() == public_key_hex
    except MultiformatError:
        return False


class Checker:
    def __init__(self, *, chain: ChainView | None, http: httpx.AsyncClient | None, registry_url: str | None,
                 issuer_url: str | None, public_base_url: str, confirmations: int = 1, report_ttl: float = 2.0,
                 revocation_freshness: float = 30.0, trusted_hosts: frozenset[str] = frozenset(),
                 fetch_max_bytes: int = 512 * 1024, fetch_timeout: float = 5.0,
                 allow_http_loopback: bool = False) -> None:
        self.chain = chain
        self.http = http
        self.registry_url = registry_url
        self.issuer_url = issuer_url
        self.public_base_url = public_base_url.rstrip("/")
        self.confirmations = confirmations
        self.report_ttl = report_ttl
        self.revocation_freshness = revocation_freshness
        self._verdicts: LRU = LRU(20_000)
        self._reports: LRU = LRU(20_000)
        # Our issuers' DIDs are did:web under the issuer service; their DID documents are read from it.
        self.own_did_prefix = did_web(issuer_url, "issuers") + ":" if issuer_url else None
        self._did_documents = LRU(1_000)
        self.status_lists = StatusLists(http, issuer_url)
        # Other platforms' issuers: their DID documents and status lists are fetched as hostile URLs.
        self.fetch_rules = {"trusted_hosts": set(trusted_hosts), "max_bytes": fetch_max_bytes,
                            "timeout": fetch_timeout}
        self.allow_http_loopback = allow_http_loopback
        self._foreign_keys = didweb.KeyCache(ttl=60.0)
        self.endorsements = Endorsements(http, issuer_url, public_base_url, self.own_did_prefix, ttl=report_ttl)
        # Told of every report computed (not of one served again from the report cache), with the
        # seconds it took: the metrics (services/verifier/metrics.py) listen here.
        self.observers: list[Callable[[Report, float], None]] = []

    # -- entry points ----------------------------------------------------------------
    async def verify_credential_id(self, credential_id: str) -> tuple[Report | None, dict | None]:
        """The report for one of our own credentials, by id; (None, None) if there is no such credential."""
        cached = self._reports.get(credential_id)
        if cached and cached[0] > time.monotonic():
            return cached[1], cached[2]
        credential = await self.fetch_own_credential(credential_id)
        if credential is None:
            return None, None
        # The page is fetched from the issuer anyway: its status service shows a revocation or a
        # suspension the moment it is recorded, before the next list version reaches the chain.
        report = await self.verify_document(credential, ask_issuer=True)
        self._reports.put(credential_id, (time.monotonic() + self.report_ttl, report, credential))
        return report, credential

    async def fetch_own_credential(self, credential_id: str) -> dict | None:
        if self.http is None or self.issuer_url is None:
            return None
        try:
            r = await self.http.get(f"{self.issuer_url}/public/credentials/{quote(credential_id, safe='')}")
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"the issuer service could not be reached ({type(exc).__name__})") from None
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise UpstreamUnavailable(f"the issuer service answered {r.status_code}")
        return r.json()

    async def fetch_profile(self, profile_id: str) -> dict | None:
        """A learner's profile listing from our issuer (docs/learners.md); None when unknown or withdrawn.

        Never cached: a withdrawn profile must be 404 from the next request on.
        """
        if self.http is None or self.issuer_url is None:
            return None
        try:
            r = await self.http.get(f"{self.issuer_url}/public/profiles/{quote(profile_id, safe='')}")
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"the issuer service could not be reached ({type(exc).__name__})") from None
        if r.status_code in (404, 422):
            return None
        if r.status_code != 200:
            raise UpstreamUnavailable(f"the issuer service answered {r.status_code}")
        body = r.json()
        return body if isinstance(body, dict) else None

    async def verify_document(self, credential: dict, *, ask_issuer: bool = False, depth: int = 0,
                              budget: stack.Budget | None = None) -> Report:
        """The report on ``credential``; a pathway credential's components are checked too
        (``depth`` levels down so far).

        Our issuers' status lists on chain decide revocation and suspension alone, so the
        issuer's status service is asked only where it adds something: for a credential from
        before status lists (per-hash revocation), a list not on chain yet, the reason of a
        suspension, or when ``ask_issuer`` (the credential page, which reads the issuer anyway).
        """
        begun = time.perf_counter()
        report = await self._verify_document(credential, ask_issuer=ask_issuer, depth=depth, budget=budget)
        for observe in self.observers:
            observe(report, time.perf_counter() - begun)
        return report

    async def _verify_document(self, credential: dict, *, ask_issuer: bool, depth: int,
                               budget: stack.Budget | None) -> Report:
        # Endorsements (docs/endorsements.md) are looked up while the credential's own checks run.
        endorsed = asyncio.create_task(self.endorsements.for_credential(credential, self.verify_credential_id)) \
            if depth == 0 and self.endorsements.listing(credential) else None
        try:
            report = await self._verify_one(credential, ask_issuer)
        except BaseException:
            if endorsed is not None:
                endorsed.cancel()
            raise
        if endorsed is not None:
            if report.check("format").status == "failed":
                endorsed.cancel()  # a malformed document shows no endorsements
            elif report.check("signature").status != "passed":
                # Until its issuer's signature holds, the achievement it names is only a claim: no
                # endorsement of that achievement is shown beside it.
                endorsed.cancel()
                report.endorsements = []
            else:
                report.endorsements, report.endorsements_error = await endorsed
        if isinstance(credential, dict) and report.check("format").status != "failed":
            shared = budget or stack.Budget()

            async def component(url: str, level: int):
                return await self._component(url, level, shared)

            report.components = await stack.check(credential, component, depth, shared)
        return report

    async def _component(self, url: str, depth: int, budget: stack.Budget):
        """(report, document, its credential hash, why not) for a component named by URL."""
        own = self.public_base_url + "/c/"
        if self.http is None:
            return None, None, None, "components cannot be fetched here"
        try:
            if url.startswith(own):
                document = await self.fetch_own_credential(url[len(own):].split("/", 1)[0].split("#", 1)[0])
                if document is None:
                    return None, None, None, "there is no credential at this address"
            else:
                document = await fetch_json(self.http, url, **self.fetch_rules)
                if isinstance(document.get("checks"), list) and isinstance(document.get("credential"), dict):
                    # another microcred deployment's page answers with its report: take the file
                    document = await fetch_json(self.http, url.split("#", 1)[0].rstrip("/") + "/credential.json",
                                                **self.fetch_rules)
        except (FetchRefused, UpstreamUnavailable) as exc:
            return None, None, None, f"the component could not be fetched: {exc}"
        verdict = await self._verdict(document)
        report = await self.verify_document(document, depth=depth, budget=budget)
        return report, document, verdict.credential_hash, None

    async def _verify_one(self, credential: dict, ask_issuer: bool) -> Report:
        now = datetime.now(UTC)
        embedded = _embedded_receipt(credential)  # decoded once: base58 of a 1 kB receipt is not free
        # The issuer's status service, when it is asked, runs while the hash and signature are computed
        # (and while another platform's DID document is read, before them).
        early = self._start_early_reads(credential, ask_issuer or embedded is None or embedded[0] is None)
        try:
            # The chain read goes out once the hash is known, and is answered while the signature is checked.
            verdict = await self._verdict(credential, lambda h: self._prefetch_chain(credential, embedded, h, early))
        except BaseException:
            for task in early.values():
                task.cancel()
            raise
        facts = Facts(format_error=verdict.format_error, credential_hash=verdict.credential_hash,
                      signature_valid=verdict.signature_valid, signature_error=verdict.signature_error,
                      signed_at=verdict.signed_at, public_key=verdict.public_key,
                      confirmations_required=self.confirmations, revocation_freshness=self.revocation_freshness)
        summary_json: dict = {}
        anchor_json = None
        if not verdict.format_error:
            summary_json = summary(credential)
            facts.issuer_did = summary_json.get("issuerId")
            summary_json.pop("issuerId", None)
            facts.key_controller = key_controller(verdict.verification_method)
            facts.verification_method = verdict.verification_method
            facts.own_issuer = bool(self.own_did_prefix and facts.issuer_did
                                    and facts.issuer_did.startswith(self.own_did_prefix))
            facts.credential_kind = verdict.kind or check_shape(credential)  # the verdict's own check
            valid_from, valid_until = validity(credential)
            facts.valid_from = _parse_time(valid_from)
            facts.valid_until = _parse_time(valid_until)
            if verdict.credential_hash:
                anchor_json = await self._gather_chain_facts(credential, facts, early, embedded)
            if verdict.signature_valid and facts.key is None:
                # Not (yet) registered on chain: is it at least the issuer's own key?
                await self._key_in_did_document(facts)
            facts.off_ledger = not facts.own_issuer and facts.receipt_root is None and not facts.anchor_pending \
                and "integrity" not in facts.unavailable and not facts.receipt_error
            if facts.off_ledger:
                await self._foreign_status(credential, facts)
        for task in early.values():
            task.cancel()  # no-ops for finished ones; nothing is left running after a malformed document
        return evaluate(facts, now, credential=summary_json, anchor=anchor_json)

    def _start_early_reads(self, credential: dict, ask_issuer: bool) -> dict[str, asyncio.Task]:
        """The issuer's status service, unless the chain will vouch for the credential's status lists."""
        tasks: dict[str, asyncio.Task] = {}
        if not isinstance(credential, dict):
            return tasks
        if ask_issuer or not self._lists_decide(credential):
            tasks["status"] = self._status_task(credential)
        return tasks

    def _status_task(self, credential: dict) -> asyncio.Task:
        status = Facts()
        task = asyncio.create_task(self._issuer_status(credential, status))
        task.facts = status  # type: ignore[attr-defined]
        # An early read that is never awaited (malformed document) must not warn when collected.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    def _lists_decide(self, credential: dict) -> bool:
        """Whether the credential's status is all in our issuers' status lists, which the chain vouches for."""
        try:
            entries = statuslist.entries(credential.get("credentialStatus"))
        except statuslist.StatusListError:
            return False
        return bool(entries) and all(self.status_lists.is_ours(e) for e in entries) \
            and not _other_status_types(credential.get("credentialStatus"))

    # -- pieces ------------------------------------------------------------------------
    async def _verdict(self, credential: dict, on_hash: Callable[[str], bool] | None = None) -> Verdict:
        """The (cached) verdict. On a miss, ``on_hash`` is given the credential hash as soon as it is
        computed, before the signatures; if it started I/O (it returns True), that goes out first."""
        keys = await self._foreign_document_keys(credential)
        key = hashlib.sha256(orjson.dumps([credential, sorted((k, v.hex()) for k, v in (keys or {}).items())],
                                          option=orjson.OPT_SORT_KEYS)).digest()
        cached = self._verdicts.get(key)
        if cached is None:
            # On the event loop itself: a thread would free it for nothing (the GIL serialises the
            # work anyway) and the hop costs a fifth of the work (docs/verifier.md, "Where a cold
            # verification's time goes").
            first = hash_or_verdict(credential) if on_hash is not None else None
            if isinstance(first, Verdict):
                cached = first  # malformed: nothing to read on chain
            else:
                kind, document_hash = first or (None, None)
                if document_hash is not None and on_hash("0x" + document_hash.hex()):
                    # One loop step for the task it started to write its request: the JSON-RPC
                    # transport writes in the task's first step (services/verifier/rpc_transport.py).
                    await asyncio.sleep(0)
                cached = document_verdict(credential, keys, document_hash=document_hash, kind=kind)
            if not _expires(credential):
                self._verdicts.put(key, cached)
        return cached

    async def _foreign_document_keys(self, credential: dict) -> dict[str, bytes] | None:
        """Another platform's did:web issuer names its keys by id (``#key-1``), not by the key itself:
        those come from its DID document. None where the key is in the verification method."""
        try:
            method = find_proof(credential).get("verificationMethod")
        except (ProofError, AttributeError):
            return None
        did = credential.get("issuer")
        did = did.get("id") if isinstance(did, dict) else did
        if (not isinstance(method, str) or not isinstance(did, str) or not did.startswith("did:web:")
                or method.split("#", 1)[-1].startswith("z6Mk") or self.http is None
                or (self.own_did_prefix and did.startswith(self.own_did_prefix))):
            return None
        try:
            return await didweb.resolve_keys(did, self.http, allow_http_loopback=self.allow_http_loopback,
                                             cache=self._foreign_keys, **self.fetch_rules)
        except didweb.DidResolutionError:
            return {}  # the signature check then says the key is not one the issuer lists

    async def _receipt(self, embedded: tuple[anchorproof.AnchorReceipt | None, str | None] | None,
                       credential_hash: str, facts: Facts) -> anchorproof.AnchorReceipt | None:
        if embedded is not None:
            receipt, error = embedded
            facts.receipt_error = error
            return receipt
        if self.http is None or self.registry_url is None:
            return None
        try:
            r = await self.http.get(f"{self.registry_url}/api/v1/anchors/{credential_hash}")
        except httpx.HTTPError as exc:
            # Without an embedded receipt the registry is the only way to find the anchor.
            why = f"the anchoring registry did not answer ({type(exc).__name__})"
            facts.unavailable.update(integrity=why, anchor=why)
            return None
        if r.status_code >= 500:
            why = f"the anchoring registry answered {r.status_code}"
            facts.unavailable.update(integrity=why, anchor=why)
            return None
        facts.registry_asked = True
        if r.status_code != 200:
            return None
        body = r.json()
        facts.anchor_pending = body.get("state") in ("queued", "submitted")
        if not body.get("root") or not body.get("txHash") or body.get("blockNumber") is None:
            return None
        try:
            return anchorproof.AnchorReceipt(
                chain_id=int(body["chainId"]), contract=body["contract"], account=body["account"], root=body["root"],
                path=tuple(body["proof"] or ()), tx_hash=body["txHash"], block_number=int(body["blockNumber"]))
        except (KeyError, TypeError, ValueError):
            return None

    async def _gather_chain_facts(self, credential: dict, facts: Facts, early: dict[str, asyncio.Task],
                                  embedded: tuple[anchorproof.AnchorReceipt | None, str | None] | None) -> dict | None:
        receipt = await self._receipt(embedded, facts.credential_hash, facts)
        if receipt is None:
            if "status" not in early:  # nothing on chain to read the lists against: the issuer says
                early["status"] = self._status_task(credential)
            await self._take_status(early, facts)
            return None
        facts.account = receipt.account
        facts.receipt_root = receipt.root
        try:
            leaf = leaf_hash(bytes.fromhex(facts.credential_hash[2:]))
            facts.receipt_path_root = "0x" + process_proof(leaf, [bytes.fromhex(p[2:]) for p in receipt.path]).hex()
        except ValueError as exc:
            facts.receipt_error = f"malformed Merkle path: {exc}"
        anchor_json = {"chainId": receipt.chain_id, "contract": receipt.contract, "account": receipt.account,
                       "root": receipt.root, "txHash": receipt.tx_hash, "blockNumber": receipt.block_number,
                       "confirmations": None}
        if self.chain is None:
            facts.anchor_error = facts.issuer_error = facts.revocation_error = "no chain endpoint is configured"
            return anchor_json
        try:
            chain_id = await self.chain.chain_id()
        except ChainReadError as exc:
            _chain_unavailable(facts, str(exc))
            return anchor_json
        if chain_id != receipt.chain_id or self.chain.address.lower() != receipt.contract.lower():
            msg = (f"anchored on chain {receipt.chain_id}, contract {receipt.contract}, "
                   f"which this verifier does not read")
            facts.anchor_error = facts.issuer_error = facts.revocation_error = msg
            return anchor_json
        entries = self._own_status_entries(credential, facts)
        read = _chain_read(receipt, facts.credential_hash, entries)
        prefetched = early.pop("chain", None)
        try:
            # Every chain read of the verification in one JSON-RPC batch (what is cached is left out),
            # usually sent already, while the signature was checked (_prefetch_chain).
            if prefetched is not None and prefetched.read == read:  # type: ignore[attr-defined]
                answer = await prefetched
            else:
                if prefetched is not None:
                    prefetched.cancel()
                answer = await self.chain.read_for_verification(**read)
            anchor, head, issuer, tx_proven, revoked_at, *list_hashes = answer
        except Exception as exc:  # fail closed: every chain-backed check says it could not run
            _chain_unavailable(facts, str(exc) or type(exc).__name__)
            await self._take_status(early, facts)
            return anchor_json
        facts.anchored_by = anchor.anchored_by
        if not tx_proven:
            anchor_json["txHash"] = None  # a claim the chain does not back is not shown as evidence
        if anchor.block_number:
            facts.anchored_at = datetime.fromtimestamp(anchor.anchored_at, UTC)
            if head - anchor.block_number + 1 < self.confirmations:
                # Short of the confirmations by the head kept for a second: the chain's own head
                # decides (an anchor the registry has just seen confirmed is not shown pending).
                try:
                    head = max(head, await self.chain.head(fresh=True))
                except ChainReadError:
                    pass  # the head read with the batch stands
            facts.confirmations = max(0, head - anchor.block_number + 1)
            anchor_json["confirmations"] = facts.confirmations
            # The contract's block number is the fact; the receipt's is only a claim.
            anchor_json["blockNumber"] = anchor.block_number
        facts.account_did = issuer.did
        facts.account_active = issuer.active
        key = next((k for k in issuer.keys if k[0] == facts.public_key), None)
        facts.key = KeyOnChain(valid_from=key[1], valid_until=key[2], compromised=key[3]) if key else None
        if revoked_at:
            facts.revoked_on_chain_at = datetime.fromtimestamp(revoked_at, UTC)
        if entries:
            chain_keys = {k[0] for k in issuer.keys}
            states = await self.status_lists.read_own(entries, list_hashes, facts.issuer_did or "",
                                                      lambda raw: "0x" + raw.hex() in chain_keys)
            _take_list_states(facts, states)
            # The issuer knows what the chain cannot say yet: changes to a list not on chain, and
            # why a credential is suspended. Asked only then (rare), once the chain has spoken.
            if "status" not in early and (facts.status_list_pending or facts.suspended_in_list):
                early["status"] = self._status_task(credential)
        await self._take_status(early, facts)
        return anchor_json

    def _prefetch_chain(self, credential: dict, embedded, credential_hash: str, early: dict[str, asyncio.Task]) -> bool:
        """Start the verification's chain read (``early["chain"]``) for a credential with a well-formed
        receipt on the chain this verifier reads; True if it was started. ``_gather_chain_facts``
        takes it only if it asks the very same read, and decides everything as before."""
        receipt = embedded[0] if embedded else None
        if receipt is None or self.chain is None or self.chain.known_chain_id != receipt.chain_id \
                or self.chain.address.lower() != receipt.contract.lower():
            return False
        read = _chain_read(receipt, credential_hash, self._own_status_entries(credential, Facts()))
        task = asyncio.create_task(self.chain.read_for_verification(**read))
        task.read = read  # type: ignore[attr-defined]
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # never awaited: no warning
        early["chain"] = task
        return True

    def _own_status_entries(self, credential: dict, facts: Facts) -> list[statuslist.Entry]:
        """The credential's Bitstring Status List entries in our issuers' lists (checked against the chain)."""
        try:
            entries = statuslist.entries(credential.get("credentialStatus"))
        except statuslist.StatusListError as exc:
            facts.status_list_error = str(exc)
            return []
        facts.status_lists = bool(entries)
        ours = [e for e in entries if e.purpose in statuslist.PURPOSES and self.status_lists.is_ours(e)]
        if len(ours) != len(entries):
            facts.status_list_error = "the credential points to a status list this verifier cannot check"
        return ours

    async def _key_in_did_document(self, facts: Facts) -> None:
        """Whether the issuer lists the signing key as its own (``facts.key_in_did_document``).

        A did:key is its own key. One of our did:web issuers' documents is read from the issuer
        service (a key appears there the moment it is created, before the chain has it). Any
        other issuer's DID is not resolved here, so its key stays unproven.
        """
        did = facts.issuer_did
        if not did or facts.key_controller != did:
            return  # the signature check already refuses a key of someone else
        if did.startswith("did:key:"):
            facts.key_in_did_document = _did_key_matches(did, facts.public_key)
            return
        if not facts.own_issuer and "issuer" in facts.unavailable:
            return  # the chain, when it answers, decides whose key it is: nothing to conclude now
        if not facts.own_issuer and did.startswith("did:web:") and self.http is not None:
            await self._foreign_key(facts, did)
            return
        if not facts.own_issuer or self.http is None:
            if "issuer" not in facts.unavailable:  # the chain, when it answers, is what decides here
                facts.key_in_did_document = False
            return
        cached = self._did_documents.get(did)
        if cached is not None and cached[0] > time.monotonic() and facts.public_key in cached[1]:
            facts.key_in_did_document = True
            return
        slug = did.removeprefix(self.own_did_prefix)
        try:
            r = await self.http.get(f"{self.issuer_url}/issuers/{quote(slug, safe='')}/did.json")
            if r.status_code == 404:
                facts.key_in_did_document = False
                return
            r.raise_for_status()
            document = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            facts.unavailable.setdefault("signature", f"the issuer's DID document could not be read "
                                                      f"({type(exc).__name__})")
            return
        try:
            listed = frozenset("0x" + raw.hex() for raw in didweb.keys_from_document(did, document).values())
        except didweb.DidResolutionError:
            listed = frozenset()  # a document that lists no usable key lists none of ours
        self._did_documents.put(did, (time.monotonic() + self.report_ttl, listed))
        facts.key_in_did_document = facts.public_key in listed

    async def _foreign_key(self, facts: Facts, did: str) -> None:
        """Another platform's did:web issuer: its DID document, fetched under the hostile-URL rules."""
        try:
            keys = await didweb.resolve_keys(did, self.http, allow_http_loopback=self.allow_http_loopback,
                                             cache=self._foreign_keys, **self.fetch_rules)
        except didweb.DidResolutionError as exc:
            if exc.transient:
                facts.unavailable.setdefault("signature", exc.message)
            else:
                facts.key_in_did_document = False
                facts.did_error = exc.message
            return
        raw = keys.get(facts.verification_method or "")
        facts.key_in_did_document = raw is not None and "0x" + raw.hex() == facts.public_key

    async def _foreign_status(self, credential: dict, facts: Facts) -> None:
        """Another platform's credential: its status list, signed by its issuer (no chain to consult)."""
        try:
            entries = statuslist.entries(credential.get("credentialStatus"))
        except statuslist.StatusListError as exc:
            facts.status_list_error = str(exc)
            return
        facts.status_lists = bool(entries)
        facts.status_kind = "bitstring" if entries else None
        others = _other_status_types(credential.get("credentialStatus"))
        unknown = [t for t, _ in others if t != REVOCATION_LIST_1EDTECH]
        if unknown:
            facts.status_list_error = f"the credential's status type {unknown[0]!r} is not one this verifier can check"
            return
        if others:
            facts.status_kind = facts.status_kind or "1edtech"
            if self.http is None:
                facts.unavailable.setdefault("revocation", "no network access to read the revocation list")
            else:
                await self._revocation_list_1edtech(credential, [url for _, url in others], facts)
        if not entries:
            return
        if self.http is None:
            facts.unavailable.setdefault("revocation", "no network access to read the status list")
            return
        try:
            keys = await didweb.resolve_keys(facts.issuer_did or "", self.http,
                                             allow_http_loopback=self.allow_http_loopback,
                                             cache=self._foreign_keys, **self.fetch_rules)
        except didweb.DidResolutionError as exc:
            if exc.transient:
                facts.unavailable.setdefault("revocation", exc.message)
            else:
                facts.status_list_error = exc.message
            return
        raw_keys = set(keys.values())
        for entry in entries:
            try:
                document = await fetch_json(self.http, entry.list_url, **self.fetch_rules)
                bits = verified_bits(document, entry, facts.issuer_did or "", None, lambda raw: raw in raw_keys)
                is_set = statuslist.get_bit(bits, entry.index)
            except FetchRefused as exc:
                _list_unreadable(facts, "the status list", exc)
                return
            except statuslist.StatusListError as exc:
                facts.status_list_error = str(exc)
                return
            if is_set and entry.purpose == "revocation":
                facts.revoked_in_list = True
            elif is_set and entry.purpose == "suspension":
                facts.suspended_in_list = True
        facts.revocation_checked_at = datetime.now(UTC)

    async def _revocation_list_1edtech(self, credential: dict, urls: list, facts: Facts) -> None:
        """A 1EdTech Revocation List: a JSON document at the entry's id whose ``revokedCredentials``
        name revoked credentials by ``id``. It is not signed, so it is as strong as its host."""
        for url in urls:
            if not isinstance(url, str):
                facts.status_list_error = "the 1EdTech revocation list entry has no URL"
                return
            try:
                document = await fetch_json(self.http, url, **self.fetch_rules)
            except FetchRefused as exc:
                _list_unreadable(facts, "the revocation list", exc)
                return
            revoked = document.get("revokedCredentials")
            if not isinstance(revoked, list):
                facts.status_list_error = "the 1EdTech revocation list has no revokedCredentials"
                return
            if any(isinstance(r, dict) and r.get("id") == credential.get("id") for r in revoked):
                facts.revoked_in_list = True
        facts.revocation_checked_at = datetime.now(UTC)

    @staticmethod
    async def _take_status(early: dict[str, asyncio.Task], facts: Facts) -> None:
        """Copy the issuer-status facts gathered early into ``facts``."""
        task = early.get("status")
        if task is None:
            facts.revocation_checked_at = datetime.now(UTC)
            return
        await task
        found: Facts = task.facts  # type: ignore[attr-defined]
        facts.revocation_pending_at_issuer = found.revocation_pending_at_issuer
        facts.suspended_at_issuer = found.suspended_at_issuer
        facts.suspension_reason = found.suspension_reason
        facts.renewed_by = found.renewed_by
        facts.revocation_checked_at = found.revocation_checked_at
        facts.revocation_error = facts.revocation_error or found.revocation_error
        # With status lists on chain the issuer's status service only shows changes not yet
        # published; the lists (cached by hash while still the latest) decide without it.
        if "revocation" in found.unavailable and not facts.status_lists:
            facts.unavailable.setdefault("revocation", found.unavailable["revocation"])

    async def _issuer_status(self, credential: dict, facts: Facts) -> None:
        """Revocation or suspension recorded at the issuer but maybe not yet on chain.

        Asked of our issuer service for our own credentials (their ``id`` is our URL); for any
        other, or offline, the chain and the signed status lists alone decide.
        """
        url = credential.get("id")
        prefix = self.public_base_url + "/c/"
        if self.http is None or not isinstance(url, str) or not url.startswith(prefix):
            facts.revocation_checked_at = datetime.now(UTC)
            return
        credential_id = url.removeprefix(prefix).split("/", 1)[0]
        try:
            r = await self.http.get(f"{self.issuer_url}/public/credentials/{quote(credential_id, safe='')}/status")
            if r.status_code == 404:  # not one the issuer knows: nothing recorded there
                facts.revocation_checked_at = datetime.now(UTC)
                return
            r.raise_for_status()
            body = r.json()
            facts.revocation_pending_at_issuer = bool(body.get("revoked"))
            facts.suspended_at_issuer = bool(body.get("suspended"))
            reason = body.get("suspensionReason")
            facts.suspension_reason = reason[:500] if isinstance(reason, str) and facts.suspended_at_issuer else None
            renewed = body.get("renewedBy")  # only ever a credential page of ours
            if isinstance(renewed, str) and renewed.startswith(prefix) and len(renewed) <= len(prefix) + 64:
                facts.renewed_by = renewed
            facts.revocation_checked_at = datetime.now(UTC)
        except (httpx.HTTPError, ValueError) as exc:
            facts.unavailable["revocation"] = f"the issuer's status service did not answer ({type(exc).__name__})"


async def verify_offline(credential: dict, rpc_url: str, contract: str, confirmations: int = 1) -> Report:
    """The same checks with no issuer or registry service: the credential file and the chain only."""
    async with httpx.AsyncClient(timeout=10) as http:
        chain = ChainView(rpc_url, contract, timeout=10)
        # No issuer or registry to ask; the client only reads what the credential itself names
        # (another platform's DID document and status list, under the hostile-URL rules).
        checker = Checker(chain=chain, http=http, registry_url=None, issuer_url=None, public_base_url="",
                          confirmations=confirmations)
        # Status lists are read from where the credential says (their hash on chain decides).
        checker.status_lists = StatusLists(http, None, timeout=10, any_host=True)
        try:
            return await checker.verify_document(credential)
        finally:
            await chain.aclose()


def build_checker(settings, http: httpx.AsyncClient) -> Checker:
    """Wire a checker from the verifier's settings; no contract configured means chain checks fail closed."""
    chain = ChainView(settings.eth_rpc_url, settings.contract_address, follow_revocations=True,
                      revocations_from_block=getattr(settings, "revocations_from_block", 0)) \
        if settings.contract_address else None
    return Checker(chain=chain, http=http, registry_url=settings.registry_url, issuer_url=settings.issuer_url,
                   public_base_url=settings.public_base_url, confirmations=settings.confirmations,
                   report_ttl=getattr(settings, "report_ttl", 2.0),
                   revocation_freshness=getattr(settings, "revocation_freshness", 30.0),
                   trusted_hosts=frozenset(h.strip().lower() for h in getattr(settings, "trusted_hosts", "").split(",")
                                           if h.strip()),
                   fetch_max_bytes=getattr(settings, "fetch_max_bytes", 512 * 1024),
                   fetch_timeout=getattr(settings, "fetch_timeout", 5.0),
                   allow_http_loopback=getattr(settings, "env", "production") == "development")
