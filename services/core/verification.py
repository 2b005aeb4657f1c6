"""The verification rules (docs/verifier.md) as pure functions over gathered facts.

The verifier (and the CLI) gather :class:`Facts` over I/O — the issuer's DID document,
the chain's contract views, the anchoring receipt — and :func:`evaluate` turns them into
the one report that the page, the API and the CLI all show. Nothing here does I/O, and
``now`` is passed in, so every rule is tested with plain data.

Two kinds of "could not find out" are kept apart. A fact that is *wrong* (a receipt that
does not parse, an anchor on a chain this verifier does not read) is an error string and
fails its check. A fact that could not be gathered *right now* (chain, issuer or registry
unreachable, a timeout) goes into ``Facts.unavailable``: its check is ``skipped`` with the
reason, and the verdict is ``unavailable`` — never ``valid``, and never ``invalid``, because
a check that could not run is not a forgery (docs/verifier.md).

Key windows (docs/contract.md): a key validates a credential only if it was registered on
chain at or before the block that anchored it. A normally retired key keeps validating what
it signed up to its retirement second; a key retired as compromised validates nothing
signed, or anchored, at or after its retirement time — a thief can backdate ``created``,
not a block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

CheckStatus = Literal["passed", "failed", "pending", "skipped"]
Status = Literal["valid", "pending", "revoked", "suspended", "expired", "invalid", "unavailable"]
CHECK_IDS = ("format", "signature", "issuer", "integrity", "anchor", "revocation", "expiry")


@dataclass(frozen=True)
class Check:
    id: str
    status: CheckStatus
    message: str

    def to_json(self) -> dict:
        return {"id": self.id, "status": self.status, "message": self.message}


@dataclass(frozen=True)
class KeyOnChain:
    valid_from: int
    valid_until: int  # 0 = still valid
    compromised: bool


@dataclass
class Facts:
    """Everything the rules need, gathered by the caller. ``*_error`` means "could not find out"."""

    # format
    format_error: str | None = None
    # what the format check found: "ob3", "vc2" or "vc1" (services.core.credential.check_shape)
    credential_kind: str = "ob3"
    credential_hash: str | None = None  # 0x hex of the RDFC document hash
    issuer_did: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    # signature
    signature_valid: bool | None = None
    signature_error: str | None = None
    signed_at: datetime | None = None  # the proof's "created"; None when the proof has none
    public_key: str | None = None  # 0x hex Ed25519 key that made the proof
    key_controller: str | None = None  # the DID the verification method belongs to
    # whether the issuer lists the key as its own (its DID document, or a did:key that is the
    # key itself); None = not looked up (the chain record decides)
    key_in_did_document: bool | None = None
    own_issuer: bool = False  # the issuer is one of this platform's, so unanchored means "not yet"
    verification_method: str | None = None
    did_error: str | None = None  # why the issuer's DID document could not be used
    # issued elsewhere and anchored nowhere we can see: the chain checks are skipped, and the
    # verdict rests on the signature, the status list and the dates (docs/verifier.md)
    off_ledger: bool = False
    status_kind: str | None = None  # "bitstring", "1edtech" or None (declares no status)
    # issuer registry (on chain), for the anchoring account
    account: str | None = None
    account_did: str | None = None  # the DID the contract records for the account
    account_active: bool | None = None
    key: KeyOnChain | None = None  # the signing key as the contract records it for the account
    issuer_error: str | None = None
    # integrity + anchor
    receipt_root: str | None = None
    receipt_path_root: str | None = None  # the root the path folds to from our recomputed hash
    receipt_error: str | None = None
    anchored_by: str | None = None  # per the contract's anchorOf(root)
    anchored_at: datetime | None = None
    confirmations: int | None = None
    confirmations_required: int = 1
    anchor_error: str | None = None
    anchor_pending: bool = False  # queued or submitted, not yet on chain
    registry_asked: bool = False  # our registry was asked for a receipt (and had none)
    # revocation
    revoked_on_chain_at: datetime | None = None  # per-hash revocation (credentials before status lists)
    revocation_pending_at_issuer: bool = False
    # W3C Bitstring Status Lists: the bits read from versions whose hash is the latest on chain
    status_lists: bool = False  # the credential has BitstringStatusListEntry items
    revoked_in_list: bool = False
    suspended_in_list: bool = False
    suspended_at_issuer: bool = False  # suspended at the issuer, maybe not yet in a list on chain
    suspension_reason: str | None = None
    renewed_by: str | None = None  # our issuer's word: the URL of the credential that renewed this one
    status_list_error: str | None = None  # a list that is wrong: the check fails
    status_list_pending: bool = False  # a list with no version on chain yet
    revocation_error: str | None = None
    revocation_checked_at: datetime | None = None
    revocation_freshness: float = 30.0
    # check id -> why it could not run right now (timeout, service down)
    unavailable: dict[str, str] = field(default_factory=dict)


@dataclass
class Report:
    status: Status
    checks: list[Check]
    credential: dict = field(default_factory=dict)
    anchor: dict | None = None
    assurance: dict | None = None
    # A pathway credential's components, each checked like this one (services/verifier/components.py);
    # None for a credential that names none.
    components: list[dict] | None = None
    renewed_by: str | None = None  # the successor's URL, when our issuer renewed this credential
    # Endorsements of its achievement or issuer, each checked like a credential (docs/endorsements.md);
    # None where there can be none (another platform's credential, an endorsement itself).
    endorsements: list[dict] | None = None
    endorsements_error: str | None = None  # the list could not be read right now

    @property
    def verified(self) -> bool:
        return self.status == "valid"

    def check(self, check_id: str) -> Check:
        return next(c for c in self.checks if c.id == check_id)

    def to_json(self) -> dict:
        body = {"verified": self.verified, "status": self.status, "checks": [c.to_json() for c in self.checks],
                "credential": self.credential, "anchor": self.anchor}
        if self.assurance is not None:
            body["assurance"] = self.assurance
        if self.components is not None:
            body["components"] = self.components
            broken = component_problems(self.components)
            body["componentsValid"] = not broken
            body["componentProblems"] = broken
        if self.renewed_by is not None:
            body["renewedBy"] = self.renewed_by
        if self.endorsements is not None:
            body["endorsements"] = self.endorsements
            if self.endorsements_error:
                body["endorsementsError"] = self.endorsements_error
        return body


COMPONENT_GOOD = ("valid", "pending")  # a component in either still supports what was built on it


def component_problems(components: list[dict]) -> list[str]:
    """In words, each component (at any depth) that no longer supports the pathway credential."""
    out = []
    for c in components:
        if c.get("status") not in COMPONENT_GOOD:
            out.append(f"{c.get('name') or c.get('url')} is {c.get('status')}"
                       + (f": {c['reason']}" if c.get("reason") else ""))
        out.extend(component_problems(c.get("components") or []))
    return out


def _same_account(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and a.lower() == b.lower()


def _not_now(check_id: str, f: Facts) -> Check | None:
    """The check could not run right now: say so, decide nothing."""
    why = f.unavailable.get(check_id)
    if why is None:
        return None
    return Check(check_id, "skipped", f"Could not be checked right now: {why}. Try again in a moment.")


def _malformed(check_id: str, f: Facts) -> Check | None:
    if f.format_error:
        return Check(check_id, "skipped", "Not checked, because the credential is malformed.")
    return None


_KINDS = {"ob3": "Open Badges 3.0 credential",
          "vc2": "W3C Verifiable Credential 2.0 (not an Open Badge: no achievement is claimed)",
          "vc1": "W3C Verifiable Credential 1.1 (not an Open Badge: no achievement is claimed)"}


def check_format(f: Facts) -> Check:
    if f.format_error:
        return Check("format", "failed", "This is not a well-formed Open Badges 3.0 credential or W3C Verifiable "
                                         f"Credential: {f.format_error}")
    return Check("format", "passed", f"A well-formed {_KINDS.get(f.credential_kind, _KINDS['ob3'])} that uses "
                                     "only known vocabularies.")


def check_signature(f: Facts) -> Check:
    if found := _malformed("signature", f):
        return found
    if f.signature_error:
        return Check("signature", "failed", f"The issuer's digital signature could not be checked: {f.signature_error}")
    if not f.signature_valid:
        return Check("signature", "failed", "The digital signature does not match: the credential was altered or "
                                            "was not signed by this issuer.")
    if f.key_controller and f.issuer_did and f.key_controller != f.issuer_did:
        return Check("signature", "failed", f"The signature was made with a key of {f.key_controller}, not of the "
                                            f"issuer named in the credential ({f.issuer_did}): anyone can sign "
                                            f"with their own key, so it proves nothing about this issuer.")
    if found := _not_now("signature", f):
        return found
    if f.key_in_did_document is False and f.key is None:
        why = f" ({f.did_error})" if f.did_error else ""
        return Check("signature", "failed", f"The signature was made with a key that {f.issuer_did} does not list "
                                            f"as its own, nor register on the blockchain{why}.")
    return Check("signature", "passed", "The issuer's digital signature is genuine and covers every detail shown.")


def check_issuer(f: Facts, at: datetime | None) -> Check:
    """Whether the signing key and the anchoring account are the issuer's on chain (module docstring)."""
    if found := _malformed("issuer", f) or _not_now("issuer", f):
        return found
    if f.off_ledger:
        strength = ("a bare key, which anyone can make: nobody vouches for the name it gives"
                    if (f.issuer_did or "").startswith("did:key:")
                    else "its web domain, and only as far as that domain can be trusted")
        return Check("issuer", "skipped", f"Issued outside this platform: no blockchain registry vouches for the "
                                          f"issuer. Who issued it rests on {f.issuer_did}, {strength}.")
    if f.issuer_error:
        return Check("issuer", "failed", f"The issuer registry could not be checked: {f.issuer_error}")
    if not f.account:
        return Check("issuer", "pending", "The issuer's registration will be checked once the credential is anchored.")
    if f.account_did is None or f.account_did == "":
        return Check("issuer", "failed", "The account that anchored this credential is not a registered issuer.")
    if f.account_did != f.issuer_did:
        return Check("issuer", "failed", f"The anchoring account is registered to {f.account_did}, "
                                         f"not to the issuer named in the credential.")
    if f.key is None:
        if f.key_in_did_document:
            return Check("issuer", "pending", "The issuer's signing key is listed by the issuer and is being "
                                              "registered on the blockchain.")
        return Check("issuer", "failed", "The key that signed this credential is not registered to this issuer.")
    if at is None:
        return Check("issuer", "pending", "The key will be checked against the anchor's time once it is on chain.")
    anchored = int(at.timestamp())
    signed = int(f.signed_at.timestamp()) if f.signed_at else None
    if anchored < f.key.valid_from:
        return Check("issuer", "failed", "The credential was anchored before its signing key was registered.")
    if f.key.valid_until:
        if f.key.compromised:
            if anchored >= f.key.valid_until or signed is None or signed >= f.key.valid_until:
                return Check("issuer", "failed", "The signing key was reported compromised, and this credential was "
                                                 "not signed and anchored before then.")
        elif (signed if signed is not None else anchored) > f.key.valid_until:
            return Check("issuer", "failed", "The signing key had been retired when this credential was signed.")
    return Check("issuer", "passed", "The issuer and its signing key are registered on the blockchain, and the key "
                                     "was valid when the credential was signed and anchored.")


def check_integrity(f: Facts) -> Check:
    if found := _malformed("integrity", f) or _not_now("integrity", f):
        return found
    if f.off_ledger:
        return Check("integrity", "skipped", "Not anchored on a blockchain: only the signature shows the credential "
                                             "is unchanged since it was signed, and nothing shows when that was.")
    if f.receipt_error:
        return Check("integrity", "failed", f"The anchoring receipt is unusable: {f.receipt_error}")
    if f.receipt_root is None:
        if f.anchor_pending or f.own_issuer:
            return Check("integrity", "pending", "The credential's fingerprint is waiting to be written to the "
                                                 "blockchain.")
        return Check("integrity", "failed", "The credential carries no anchoring receipt"
                     + (", and this platform has no record of anchoring it" if f.registry_asked else "")
                     + ": nothing proves its fingerprint is on a blockchain.")
    if f.receipt_path_root != f.receipt_root:
        return Check("integrity", "failed", "The credential's fingerprint is not the one that was anchored: "
                                            "it was changed after issuing.")
    return Check("integrity", "passed", "The credential's fingerprint, recomputed here, is exactly the one anchored.")


def check_anchor(f: Facts) -> Check:
    if found := _malformed("anchor", f) or _not_now("anchor", f):
        return found
    if f.off_ledger:
        return Check("anchor", "skipped", "No blockchain record: this credential was issued outside this platform.")
    if f.anchor_error:
        return Check("anchor", "failed", f"The blockchain could not be checked: {f.anchor_error}")
    if f.receipt_root is None or f.receipt_error or f.receipt_path_root != f.receipt_root:
        if f.receipt_root is None and (f.anchor_pending or f.own_issuer):
            return Check("anchor", "pending", "Waiting to be written to the blockchain; this usually takes seconds.")
        return Check("anchor", "skipped", "Not checked, because there is no matching anchor to look up.")
    if not f.anchored_by or int(f.anchored_by, 16) == 0:
        if f.anchor_pending:
            return Check("anchor", "pending", "Submitted to the blockchain, waiting to be included in a block.")
        return Check("anchor", "failed", "The blockchain has no record of this credential's anchor.")
    if not _same_account(f.anchored_by, f.account):
        return Check("anchor", "failed", "The anchor was written by a different account than the issuer's.")
    if (f.confirmations or 0) < f.confirmations_required:
        return Check("anchor", "pending", f"On the blockchain with {f.confirmations or 0} of "
                                          f"{f.confirmations_required} confirmations needed.")
    return Check("anchor", "passed", f"Recorded on the blockchain by the issuer's account, with "
                                     f"{f.confirmations} confirmation{'s' if f.confirmations != 1 else ''}.")


def suspended(f: Facts) -> bool:
    return f.suspended_in_list or f.suspended_at_issuer


def check_revocation(f: Facts, now: datetime) -> Check:
    if found := _malformed("revocation", f):
        return found
    if f.revoked_on_chain_at is not None:
        return Check("revocation", "failed", f"The issuer revoked this credential on "
                                             f"{f.revoked_on_chain_at:%d %B %Y}.")
    if f.revoked_in_list:
        where = "its signed status list says so" if f.off_ledger else \
            "its signed status list, recorded on the blockchain, says so"
        return Check("revocation", "failed", f"The issuer has revoked this credential: {where}.")
    if f.revocation_pending_at_issuer:
        return Check("revocation", "failed", "The issuer has revoked this credential.")
    if suspended(f):
        reason = f" (the reason given: {f.suspension_reason.rstrip('.')})" if f.suspension_reason else ""
        return Check("revocation", "failed", f"The issuer has suspended this credential for now{reason}.")
    if found := _not_now("revocation", f):
        return found
    if f.status_list_error:
        return Check("revocation", "failed", f"The status list could not be trusted: {f.status_list_error}.")
    if f.revocation_error:
        return Check("revocation", "failed", f"Revocation status could not be checked: {f.revocation_error}")
    if f.status_list_pending:
        return Check("revocation", "pending", "The issuer's status list is being recorded on the blockchain.")
    if f.revocation_checked_at is None or (now - f.revocation_checked_at).total_seconds() > f.revocation_freshness:
        return Check("revocation", "skipped", "Could not be checked right now: the revocation status at hand is "
                                              "not fresh enough to rely on. Try again in a moment.")
    if f.off_ledger:
        return Check("revocation", "passed", {
            "bitstring": "Not revoked or suspended: the issuer's signed status list says so (it is not recorded on "
                         "a blockchain).",
            "1edtech": "Not revoked: the issuer's revocation list does not name it (the list is not signed, so it "
                       "is as trustworthy as the site that serves it).",
        }.get(f.status_kind or "", "The credential declares no revocation status, so its issuer cannot revoke it."))
    if not f.account:
        return Check("revocation", "passed", "The issuer has not revoked this credential.")
    if f.status_lists:
        return Check("revocation", "passed", "Not revoked or suspended: the issuer's signed status list, whose "
                                             "fingerprint is the latest on the blockchain, says so.")
    return Check("revocation", "passed", "Not revoked: checked on the blockchain and with the issuer just now.")


def check_expiry(f: Facts, now: datetime) -> Check:
    if found := _malformed("expiry", f):
        return found
    if f.valid_from and now < f.valid_from:
        return Check("expiry", "failed", f"Not valid until {f.valid_from:%d %B %Y}.")
    if f.valid_until and now >= f.valid_until:
        return Check("expiry", "failed", f"Expired on {f.valid_until:%d %B %Y}.")
    if f.valid_until:
        return Check("expiry", "passed", f"Valid until {f.valid_until:%d %B %Y}.")
    return Check("expiry", "passed", "Valid, with no expiry date.")


def decide(checks: list[Check], facts: Facts) -> Status:
    """The verdict, most serious first: forged or broken, revoked, expired, cannot tell now, pending, valid."""
    by_id = {c.id: c for c in checks}
    hard = [c for c in checks if c.status == "failed" and c.id not in ("revocation", "expiry")]
    if hard:
        return "invalid"
    if by_id["revocation"].status == "failed":
        if facts.revoked_on_chain_at is not None or facts.revoked_in_list or facts.revocation_pending_at_issuer:
            return "revoked"
        return "suspended" if suspended(facts) else "invalid"
    if by_id["expiry"].status == "failed":
        return "expired" if facts.valid_until and not facts.format_error else "invalid"
    if facts.unavailable or by_id["revocation"].status == "skipped":
        return "unavailable"
    # Off the ledger, the chain checks are skipped by nature, not waiting: the verdict rests on the rest.
    waiting = [c for c in checks if c.status in ("pending", "skipped")
               and not (facts.off_ledger and c.id in ("issuer", "integrity", "anchor"))]
    return "pending" if waiting else "valid"


def assurance(facts: Facts, status: Status) -> dict:
    """What a verdict rests on, in words: everything on a blockchain, or the signature alone."""
    # A credential that is not an Open Badge claims no achievement: its claims are signed, not badge-checked.
    generic = [] if facts.format_error or facts.credential_kind == "ob3" else [
        "that it is an Open Badge: it is a generic W3C Verifiable Credential, whose claims are shown as the issuer "
        "signed them but not checked against the Open Badges rules"]
    if facts.off_ledger:
        return {"level": "signature",
                "proven": ["the issuer's digital signature, by a key its DID lists", "the revocation status it declares",
                           "the validity dates"],
                "notProven": ["no blockchain record: not when it was issued, nor that the issuer was registered",
                              f"the issuer's identity is only as strong as {facts.issuer_did}", *generic]}
    return {"level": "ledger",
            "proven": ["the issuer's digital signature", "the issuer and its key registered on a blockchain",
                       "the fingerprint anchored on a blockchain", "revocation status", "the validity dates"]
            if status == "valid" else [], "notProven": generic}


def evaluate(facts: Facts, now: datetime, credential: dict | None = None, anchor: dict | None = None) -> Report:
    checks = [
        check_format(facts),
        check_signature(facts),
        check_issuer(facts, facts.anchored_at),
        check_integrity(facts),
        check_anchor(facts),
        check_revocation(facts, now),
        check_expiry(facts, now),
    ]
    status = decide(checks, facts)
    return Report(status=status, checks=checks, credential=credential or {}, anchor=anchor,
                  assurance=assurance(facts, status), renewed_by=facts.renewed_by)
