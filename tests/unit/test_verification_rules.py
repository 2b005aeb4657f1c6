"""The verification rules of docs/verifier.md, on plain facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.core.verification import CHECK_IDS, Facts, KeyOnChain, evaluate

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SIGNED = NOW - timedelta(days=10)
ACCOUNT = "0x" + "ab" * 20
ROOT = "0x" + "11" * 32


def good(**over) -> Facts:
    facts = Facts(
        credential_hash="0x" + "22" * 32, issuer_did="did:web:issuer.example:issuers:cc",
        valid_from=SIGNED, valid_until=None,
        signature_valid=True, signed_at=SIGNED, public_key="0x" + "33" * 32,
        account=ACCOUNT, account_did="did:web:issuer.example:issuers:cc", account_active=True,
        key=KeyOnChain(valid_from=int((SIGNED - timedelta(days=1)).timestamp()), valid_until=0, compromised=False),
        receipt_root=ROOT, receipt_path_root=ROOT, anchored_by=ACCOUNT, anchored_at=SIGNED + timedelta(minutes=1),
        confirmations=3, confirmations_required=1, revocation_checked_at=NOW - timedelta(seconds=1))
    return replace(facts, **over)


def statuses(report) -> dict[str, str]:
    return {c.id: c.status for c in report.checks}


def test_a_good_credential_is_valid_with_every_check_passed_in_order():
    report = evaluate(good(), NOW)
    assert report.status == "valid" and report.verified
    assert [c.id for c in report.checks] == list(CHECK_IDS)
    assert set(statuses(report).values()) == {"passed"}
    assert all(c.message.endswith(".") for c in report.checks)


def test_json_shape_is_the_contract():
    body = evaluate(good(), NOW, credential={"id": "x"}, anchor={"chainId": 31337}).to_json()
    assert set(body) == {"verified", "status", "checks", "credential", "anchor", "assurance"}
    assert body["assurance"]["level"] == "ledger"
    assert set(body["checks"][0]) == {"id", "status", "message"}


@pytest.mark.parametrize("over,failed", [
    ({"format_error": "unknown property 'foo'"}, "format"),
    ({"signature_valid": False}, "signature"),
    ({"signature_error": "no eddsa-rdfc-2022 proof"}, "signature"),
    ({"account_did": ""}, "issuer"),
    ({"account_did": "did:web:someone-else"}, "issuer"),
    ({"key": None}, "issuer"),
    ({"receipt_path_root": "0x" + "99" * 32}, "integrity"),
    ({"anchored_by": "0x" + "cd" * 20}, "anchor"),
    ({"anchored_by": "0x" + "00" * 20}, "anchor"),
    ({"issuer_error": "chain unreachable"}, "issuer"),
    ({"anchor_error": "chain unreachable"}, "anchor"),
])
def test_each_broken_fact_makes_the_credential_invalid(over, failed):
    report = evaluate(good(**over), NOW)
    assert report.status == "invalid" and not report.verified
    assert statuses(report)[failed] == "failed"


def test_unreachable_revocation_source_is_its_own_verdict_not_invalid_nor_valid():
    report = evaluate(good(unavailable={"revocation": "the issuer's status service did not answer"}), NOW)
    assert not report.verified and report.status == "unavailable"
    assert report.check("revocation").status == "skipped"
    assert "right now" in report.check("revocation").message


def test_stale_revocation_status_is_not_a_pass():
    report = evaluate(good(revocation_checked_at=NOW - timedelta(seconds=31), revocation_freshness=30), NOW)
    assert report.check("revocation").status != "passed" and not report.verified
    assert report.status == "unavailable"


@pytest.mark.parametrize("check_id", ["issuer", "anchor", "integrity", "signature"])
def test_a_check_that_cannot_run_now_says_so_and_decides_nothing(check_id):
    report = evaluate(good(unavailable={check_id: "the chain did not answer within 3s"}), NOW)
    assert report.status == "unavailable" and not report.verified
    assert report.check(check_id).status == "skipped"
    assert "the chain did not answer" in report.check(check_id).message


def test_a_forgery_stays_invalid_even_when_the_chain_is_down():
    facts = good(signature_valid=False, unavailable={"anchor": "timeout", "issuer": "timeout"})
    assert evaluate(facts, NOW).status == "invalid"


def test_revoked_on_chain_or_at_the_issuer_is_revoked():
    assert evaluate(good(revoked_on_chain_at=NOW - timedelta(days=1)), NOW).status == "revoked"
    assert evaluate(good(revocation_pending_at_issuer=True), NOW).status == "revoked"


def test_past_valid_until_is_expired_and_future_valid_from_is_not_yet_valid():
    assert evaluate(good(valid_until=NOW - timedelta(seconds=1)), NOW).status == "expired"
    assert evaluate(good(valid_until=NOW + timedelta(days=1)), NOW).status == "valid"
    assert evaluate(good(valid_from=NOW + timedelta(days=1)), NOW).status == "invalid"


def test_a_tampered_credential_that_is_also_revoked_is_invalid_not_revoked():
    report = evaluate(good(signature_valid=False, revoked_on_chain_at=NOW), NOW)
    assert report.status == "invalid"


def test_not_yet_anchored_is_pending():
    report = evaluate(good(account=None, account_did=None, key=None, receipt_root=None, receipt_path_root=None,
                           anchored_by=None, anchored_at=None, confirmations=None, anchor_pending=True), NOW)
    assert report.status == "pending" and not report.verified
    assert statuses(report) == {"format": "passed", "signature": "passed", "issuer": "pending",
                                "integrity": "pending", "anchor": "pending", "revocation": "passed",
                                "expiry": "passed"}


def test_too_few_confirmations_is_pending():
    report = evaluate(good(confirmations=1, confirmations_required=3), NOW)
    assert report.status == "pending" and report.check("anchor").status == "pending"


def test_key_rotated_normally_keeps_older_credentials_valid():
    retired = int((SIGNED + timedelta(days=2)).timestamp())
    key = KeyOnChain(valid_from=int((SIGNED - timedelta(days=1)).timestamp()), valid_until=retired, compromised=False)
    assert evaluate(good(key=key), NOW).status == "valid"
    assert evaluate(good(key=key, signed_at=SIGNED + timedelta(days=3)), NOW).status == "invalid"


def test_compromised_key_invalidates_what_was_anchored_after_the_compromise():
    compromised_at = int((SIGNED + timedelta(hours=1)).timestamp())
    key = KeyOnChain(valid_from=int((SIGNED - timedelta(days=1)).timestamp()), valid_until=compromised_at, compromised=True)
    # signed and anchored before the compromise: still valid
    assert evaluate(good(key=key), NOW).status == "valid"
    # a backdated "created" does not help a thief: the anchor came after the compromise
    late = good(key=key, anchored_at=SIGNED + timedelta(hours=2))
    assert evaluate(late, NOW).status == "invalid"
    assert "compromised" in evaluate(late, NOW).check("issuer").message


def test_signed_before_its_key_reached_the_chain_but_anchored_after_is_valid():
    # the first seconds of a new issuer or key: "created" precedes the registration block
    key = KeyOnChain(valid_from=int((SIGNED + timedelta(seconds=5)).timestamp()), valid_until=0, compromised=False)
    assert evaluate(good(key=key, anchored_at=SIGNED + timedelta(seconds=6)), NOW).status == "valid"
    assert evaluate(good(key=key, anchored_at=SIGNED + timedelta(seconds=5)), NOW).status == "valid"


def test_anchored_before_the_key_was_registered_is_invalid():
    key = KeyOnChain(valid_from=int((SIGNED + timedelta(minutes=5)).timestamp()), valid_until=0, compromised=False)
    report = evaluate(good(key=key, anchored_at=SIGNED + timedelta(minutes=1)), NOW)
    assert report.status == "invalid" and "before its signing key was registered" in report.check("issuer").message


def test_a_normal_rotation_in_the_second_of_signing_keeps_the_credential_valid():
    same_second = int(SIGNED.timestamp())
    key = KeyOnChain(valid_from=int((SIGNED - timedelta(days=1)).timestamp()), valid_until=same_second,
                     compromised=False)
    # anchored after the retirement, as it always is when the rotation comes right after signing
    assert evaluate(good(key=key, anchored_at=SIGNED + timedelta(seconds=3)), NOW).status == "valid"
    assert evaluate(good(key=key, signed_at=SIGNED + timedelta(seconds=1)), NOW).status == "invalid"


def test_a_compromise_dated_before_the_key_existed_invalidates_everything_it_signed():
    valid_from = int(SIGNED.timestamp())
    key = KeyOnChain(valid_from=valid_from, valid_until=valid_from - 60, compromised=True)
    assert evaluate(good(key=key), NOW).status == "invalid"


def test_a_compromised_key_without_created_validates_nothing():
    compromised_at = int((SIGNED + timedelta(hours=1)).timestamp())
    key = KeyOnChain(valid_from=int((SIGNED - timedelta(days=1)).timestamp()), valid_until=compromised_at,
                     compromised=True)
    assert evaluate(good(key=key, signed_at=None), NOW).status == "invalid"
    assert evaluate(good(signed_at=None), NOW).status == "valid"  # an unretired key: the anchor time decides


def test_a_signature_by_someone_elses_key_is_never_called_genuine():
    report = evaluate(good(key=None, key_controller="did:key:z6MkStranger"), NOW)
    assert report.status == "invalid"
    signature = report.check("signature")
    assert signature.status == "failed" and "did:key:z6MkStranger" in signature.message
    assert "genuine" not in signature.message


def test_a_key_the_issuer_does_not_list_is_invalid_and_one_it_lists_is_pending_until_on_chain():
    unlisted = evaluate(good(key=None, key_in_did_document=False, key_controller=good().issuer_did), NOW)
    assert unlisted.status == "invalid" and unlisted.check("signature").status == "failed"
    listed = evaluate(good(key=None, key_in_did_document=True, key_controller=good().issuer_did), NOW)
    assert listed.status == "pending" and listed.check("issuer").status == "pending"
    assert listed.check("signature").status == "passed"


def test_unanchored_and_unknown_is_invalid_unless_it_is_one_of_our_issuers_in_flight():
    unanchored = dict(account=None, account_did=None, key=None, receipt_root=None, receipt_path_root=None,
                      anchored_by=None, anchored_at=None, confirmations=None, key_in_did_document=True)
    assert evaluate(good(**unanchored), NOW).status == "invalid"
    assert evaluate(good(**unanchored, own_issuer=True), NOW).status == "pending"


def test_a_bit_set_in_the_signed_status_list_on_chain_is_revoked_or_suspended_with_the_reason():
    assert evaluate(good(status_lists=True, revoked_in_list=True), NOW).status == "revoked"
    report = evaluate(good(status_lists=True, suspended_in_list=True, suspended_at_issuer=True,
                           suspension_reason="under review"), NOW)
    assert report.status == "suspended" and not report.verified
    assert "suspended" in report.check("revocation").message and "under review" in report.check("revocation").message
    # revoked wins over suspended
    assert evaluate(good(status_lists=True, revoked_in_list=True, suspended_in_list=True), NOW).status == "revoked"


def test_a_status_list_that_cannot_be_trusted_fails_one_not_on_chain_yet_is_pending_and_a_clean_one_passes():
    bad = evaluate(good(status_lists=True, status_list_error="the status list's signature does not match"), NOW)
    assert bad.status == "invalid" and bad.check("revocation").status == "failed"
    assert evaluate(good(status_lists=True, status_list_pending=True), NOW).status == "pending"
    clean = evaluate(good(status_lists=True), NOW)
    assert clean.status == "valid" and "status list" in clean.check("revocation").message
    stale = evaluate(good(status_lists=True, unavailable={"revocation": "the issuer's status list could not be read"}),
                     NOW)
    assert stale.status == "unavailable"


def test_a_badge_from_another_platform_rests_on_its_signature_and_says_what_was_not_proven():
    elsewhere = dict(account=None, account_did=None, key=None, receipt_root=None, receipt_path_root=None,
                     anchored_by=None, anchored_at=None, confirmations=None, key_in_did_document=True,
                     off_ledger=True, issuer_did="did:web:badges.example", key_controller="did:web:badges.example")
    report = evaluate(good(**elsewhere), NOW)
    assert report.status == "valid" and report.assurance["level"] == "signature"
    assert {c.id: c.status for c in report.checks}["anchor"] == "skipped"
    assert "web domain" in report.check("issuer").message
    assert any("no blockchain record" in n for n in report.assurance["notProven"])
    bare = evaluate(good(**{**elsewhere, "issuer_did": "did:key:z6Mk", "key_controller": "did:key:z6Mk"}), NOW)
    assert "bare key" in bare.check("issuer").message
    assert "declares no revocation status" in bare.check("revocation").message
    # the same with a key its DID does not list, or a list bit set: not valid
    assert evaluate(good(**{**elsewhere, "key_in_did_document": False}), NOW).status == "invalid"
    assert evaluate(good(**elsewhere, status_kind="bitstring", revoked_in_list=True), NOW).status == "revoked"
