"""Anchoring: the ledger-anchor proof the outbox relay attaches once the registry confirms a hash.

The relay itself (delivery, registrations, receipts) is services.issuer.outbox; its SQL is
in ``anchoring.repository``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from services.core import anchorproof
from services.issuer.credentials import document as cred
from services.issuer.models import AnchorState, Credential


def attach_anchor(c: Credential, receipt: dict, now: datetime) -> None:
    """Put the ledger-anchor proof into the credential's proof set (replacing an older one)."""
    values = anchored_values(c.document, receipt, now)
    c.document = values["document"]
    c.anchor_state, c.anchored_at, c.anchor_next_poll_at = (values["anchor_state"], values["anchored_at"],
                                                            values["anchor_next_poll_at"])


def anchored_values(document_json: str, receipt: dict, now: datetime) -> dict:
    """The credential's new columns once anchored: its document with the anchor proof, the state, the time."""
    proof = anchorproof.encode(
        anchorproof.AnchorReceipt(chain_id=int(receipt["chainId"]), contract=receipt["contract"],
                                  account=receipt["account"], root=receipt["root"], path=tuple(receipt["proof"] or ()),
                                  tx_hash=receipt["txHash"], block_number=int(receipt["blockNumber"])),
        receipt.get("anchoredAt") or cred.xsd_datetime(now))
    document = orjson.loads(document_json)
    proofs = document.get("proof")
    proofs = proofs if isinstance(proofs, list) else [proofs] if proofs else []
    document["proof"] = [p for p in proofs if p.get("cryptosuite") != anchorproof.CRYPTOSUITE] + [proof]
    # The block's time, as verifiers see it (a compromise is judged against it); else when we heard.
    return {"document": orjson.dumps(document).decode(), "anchor_state": AnchorState.anchored,
            "anchored_at": _block_time(receipt) or now, "anchor_next_poll_at": None}


def _block_time(receipt: dict) -> datetime | None:
    try:
        return datetime.fromisoformat(str(receipt["anchoredAt"]).replace("Z", "+00:00")).astimezone(UTC)
    except (KeyError, ValueError):
        return None
