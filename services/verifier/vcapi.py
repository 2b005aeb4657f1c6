"""The W3C VC-API on the verifier (docs/vc-api.md).

* ``POST /credentials/verify`` — ``{"verifiableCredential", "options"}`` → ``{"verified", "checks",
  "warnings", "errors", "report"}``: the checker's report (services.verifier.checker) read the
  VC-API way — ``checks`` names what passed, ``errors`` what failed, ``warnings`` what is pending
  or could not be checked right now — with the full report beside it.
* ``POST /presentations/verify`` — ``{"verifiablePresentation", "options"}``: every credential in
  it, as above, and the presentation's own eddsa-rdfc-2022 proof if it has one (holder,
  ``challenge`` and ``domain`` from the options).

HTTP status (as the W3C test suites read the VC-API): 200 when nothing failed, 400 when a check
failed, with the same body either way; ``verified`` is true exactly when our verdict is
``valid`` (a credential still being anchored is 200, not verified, with a warning). A request
this service cannot act on is 400 with ``{"error"}``. Rate limited as ``POST /api/v1/verify``
(one token per credential).

The presentation's proof covers the credentials inside it, each with its own ``@context``,
which the strict canonicaliser (services.core.jsonld) refuses below the top of a document. So
the presentation's canonical form is put together from strict pieces — the presentation
without its credentials, and each credential with its proofs as the named graph the VC 2.0
context makes of it — and canonicalised as one dataset under the same work budget
(:func:`presentation_nquads`). tests/unit/test_vcapi_verifier.py checks it against stock pyld.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pyld.jsonld as pyld
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.core import dataintegrity
from services.core.dataintegrity import CREDENTIALS_V2_CONTEXT
from services.core.errors import AppError
from services.core.jsonld import JsonLdDocumentError, canonicalize, canonicalize_nquads
from services.core.multiformats import MultiformatError, decode_public_key, multibase_decode
from services.core.verification import Report
from services.verifier.endpoints import CheckerDep, limit

router = APIRouter(tags=["vc-api"])

# Our check ids as the VC-API names them (its "proof", "status", "expiration"), the rest as they are.
CHECK_NAMES = {"format": "format", "signature": "proof", "issuer": "issuer", "integrity": "integrity",
               "anchor": "anchor", "revocation": "status", "expiry": "expiration"}
MAX_CREDENTIALS = 20  # in one presentation
PRESENTATION_OPTIONS = ("challenge", "domain", "returnPresentation")
CREDENTIAL_OPTIONS = ("checks",)
_VC = "https://www.w3.org/2018/credentials#verifiableCredential"
_VP_TYPE = "https://www.w3.org/2018/credentials#VerifiablePresentation"
_RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
NO_STORE = {"Cache-Control": "no-store"}


class VcApiBadRequest(AppError):
    status_code = 400
    code = "bad_request"


class VerifyCredentialRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # unknown members are refused with 400
    verifiableCredential: dict[str, Any] = Field(description="the credential, with its proof(s)")
    options: dict[str, Any] | None = Field(None, description="accepted: checks (a list of check names; every "
                                                            "check runs whatever it says)")


class VerifyPresentationRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    verifiablePresentation: dict[str, Any] = Field(description="a VC 2.0 presentation, signed or not")
    options: dict[str, Any] | None = Field(None, description=f"accepted: {', '.join(PRESENTATION_OPTIONS)}")


class Finding(BaseModel):
    check: str = Field(description="the VC-API name of the check")
    id: str = Field(description="our check id (report.checks[].id), or a presentation check")
    status: str
    message: str
    credential: int | None = Field(None, description="index of the credential in the presentation")


class VerifyCredentialResponse(BaseModel):
    verified: bool = Field(description="true exactly when our verdict is 'valid' (report.status)")
    checks: list[str] = Field(description="the checks that passed")
    warnings: list[Finding] = Field(description="checks pending, or that could not run right now")
    errors: list[Finding] = Field(description="checks that failed")
    report: dict[str, Any] = Field(description="our full report (docs/verifier.md), as GET /c/{id} gives it")


class CredentialResult(VerifyCredentialResponse):
    index: int
    id: str | None


class VerifyPresentationResponse(BaseModel):
    verified: bool = Field(description="the presentation's proof (if any) holds and every credential is verified")
    checks: list[str] = Field(description="presentation checks that passed: proof, holder, challenge, domain")
    warnings: list[Finding]
    errors: list[Finding] = Field(description="presentation checks that failed, and one per credential that did")
    holder: str | None
    credentialResults: list[CredentialResult]
    verifiablePresentation: dict[str, Any] | None = Field(None, description="only with options.returnPresentation")


def _unknown(body: BaseModel, options: dict[str, Any], accepted: tuple[str, ...]) -> None:
    if body.model_extra:
        raise VcApiBadRequest(f"unknown request member(s): {', '.join(sorted(body.model_extra))}", code="unknown_data")
    for name in options:
        if name not in accepted:
            raise VcApiBadRequest(f"options.{name} is not an option this verifier knows"
                                  + (f"; accepted: {', '.join(accepted)}" if accepted else
                                     " (a credential is verified with none)"), code="unknown_option")


# -- credentials ----------------------------------------------------------------------------------
def vcapi_result(report: Report, index: int | None = None) -> dict[str, Any]:
    """The report read the VC-API way; ``index`` marks each finding with its place in a presentation."""
    checks: list[str] = []
    warnings: list[dict] = []
    errors: list[dict] = []
    for check in report.checks:
        name = CHECK_NAMES.get(check.id, check.id)
        if check.status == "passed":
            checks.append(name)
            continue
        finding = {"check": name, "id": check.id, "status": check.status, "message": check.message}
        if index is not None:
            finding["credential"] = index
        (errors if check.status == "failed" else warnings).append(finding)
    return {"verified": report.status == "valid", "checks": checks, "warnings": warnings, "errors": errors,
            "report": report.to_json()}


def _answer(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=400 if body["errors"] else 200, headers=NO_STORE)


@router.post("/credentials/verify", response_model=VerifyCredentialResponse,
             responses={400: {"model": VerifyCredentialResponse,
                              "description": "a check failed (same body), or the request is not one this "
                                             "verifier acts on ({\"error\"})"},
                        429: {"description": "rate limited (Retry-After)"}})
async def verify_credential(body: VerifyCredentialRequest, request: Request, checker: CheckerDep) -> JSONResponse:
    """VC-API *Verify Credential*: all seven checks of docs/verifier.md on one credential."""
    options = body.options or {}
    _unknown(body, options, CREDENTIAL_OPTIONS)
    _checks_option(options)
    limit(request)
    return _answer(vcapi_result(await checker.verify_document(body.verifiableCredential)))


# -- presentations --------------------------------------------------------------------------------
@router.post("/presentations/verify", response_model=VerifyPresentationResponse,
             responses={400: {"model": VerifyPresentationResponse,
                              "description": "a check failed (same body), or the request is not one this "
                                             "verifier acts on ({\"error\"})"},
                        429: {"description": "rate limited (Retry-After)"}})
async def verify_presentation(body: VerifyPresentationRequest, request: Request, checker: CheckerDep) -> JSONResponse:
    """VC-API *Verify Presentation*: its proof (holder, challenge, domain) and every credential in it."""
    options = body.options or {}
    _unknown(body, options, PRESENTATION_OPTIONS)
    challenge, domain = _text_option(options, "challenge"), _domain_option(options)
    if not isinstance(options.get("returnPresentation", False), bool):
        raise VcApiBadRequest("options.returnPresentation: must be true or false", code="invalid_option")
    vp = body.verifiablePresentation
    credentials = _credentials_of(vp)
    holder = _holder_of(vp)
    for _ in range(max(1, len(credentials))):
        limit(request)

    checks: list[str] = []
    warnings: list[dict] = []
    errors: list[dict] = []
    presentation_checks(vp, holder, challenge, domain, checks, warnings, errors)
    results = []
    for index, credential in enumerate(credentials):
        if not isinstance(credential, dict):
            result = {"verified": False, "checks": [], "warnings": [], "report": {}, "errors": [
                {"check": "format", "id": "format", "status": "failed", "credential": index,
                 "message": "not a credential object (enveloped credentials are not supported here)"}]}
        else:
            result = vcapi_result(await checker.verify_document(credential), index)
        cid = credential.get("id") if isinstance(credential, dict) and isinstance(credential.get("id"), str) else None
        results.append({"index": index, "id": cid, **result})
        name = f"credential {index}" + (f" ({cid})" if cid else "")
        if result["errors"]:
            first = result["errors"][0]
            errors.append({"check": "credential", "id": "credential", "status": "failed", "credential": index,
                           "message": f"{name}: {first['message']}"})
        elif not result["verified"]:
            first = result["warnings"][0] if result["warnings"] else {"message": "not verified"}
            warnings.append({"check": "credential", "id": "credential", "status": "pending", "credential": index,
                             "message": f"{name}: {first['message']}"})
    answer = {"verified": not errors and all(r["verified"] for r in results), "checks": checks,
              "warnings": warnings, "errors": errors, "holder": holder, "credentialResults": results}
    if options.get("returnPresentation"):
        answer["verifiablePresentation"] = vp
    return _answer(answer)


def _checks_option(options: dict[str, Any]) -> None:
    """``checks`` (the VC-API's list of checks to run): names we know, or 400; all seven run regardless.

    A verdict on fewer checks would be one this verifier does not give: ``verified`` always rests on
    every check, and a caller who asked for ``proof`` alone reads it in ``checks`` / ``errors``.
    """
    if "checks" not in options:
        return
    value = options["checks"]
    known = {*CHECK_NAMES.values(), *CHECK_NAMES}
    if not isinstance(value, list) or not 1 <= len(value) <= len(known) \
            or not all(isinstance(v, str) and v in known for v in value):
        raise VcApiBadRequest(f"options.checks: a list of check names among {', '.join(CHECK_NAMES.values())}",
                              code="invalid_option")


def _text_option(options: dict[str, Any], name: str) -> str | None:
    value = options.get(name)
    if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= 1024):
        raise VcApiBadRequest(f"options.{name}: must be a string of 1 to 1024 characters", code="invalid_option")
    return value


def _domain_option(options: dict[str, Any]) -> list[str] | None:
    value = options.get("domain")
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    if not values or len(values) > 16 or not all(isinstance(v, str) and 1 <= len(v) <= 1024 for v in values):
        raise VcApiBadRequest("options.domain: a string, or a list of up to 16 strings", code="invalid_option")
    return values


def _credentials_of(vp: dict[str, Any]) -> list[Any]:
    context = vp.get("@context")
    first = context[0] if isinstance(context, list) and context else context
    if first != CREDENTIALS_V2_CONTEXT:
        raise VcApiBadRequest(f"verifiablePresentation: its @context must begin with {CREDENTIALS_V2_CONTEXT} "
                              "(a VC 2.0 presentation)", code="invalid_presentation")
    types = vp.get("type")
    types = [types] if isinstance(types, str) else types if isinstance(types, list) else []
    if "VerifiablePresentation" not in types:
        raise VcApiBadRequest("verifiablePresentation.type must include VerifiablePresentation",
                              code="invalid_presentation")
    credentials = vp.get("verifiableCredential", [])
    credentials = credentials if isinstance(credentials, list) else [credentials]
    if len(credentials) > MAX_CREDENTIALS:
        raise VcApiBadRequest(f"verifiablePresentation: at most {MAX_CREDENTIALS} credentials in one presentation "
                              f"(got {len(credentials)})", code="invalid_presentation")
    return credentials


def _holder_of(vp: dict[str, Any]) -> str | None:
    holder = vp.get("holder")
    holder = holder.get("id") if isinstance(holder, dict) else holder
    if holder is not None and not isinstance(holder, str):
        raise VcApiBadRequest("verifiablePresentation.holder: a DID (or an object with its id)",
                              code="invalid_presentation")
    return holder


def _finding(check: str, status: str, message: str) -> dict[str, Any]:
    return {"check": check, "id": check, "status": status, "message": message}


def presentation_checks(vp: dict[str, Any], holder: str | None, challenge: str | None, domain: list[str] | None,
                        checks: list[str], warnings: list[dict], errors: list[dict]) -> None:
    """The presentation's own proof, and whose it is: appended to ``checks``/``warnings``/``errors``."""
    raw = vp.get("proof")
    proofs = [p for p in (raw if isinstance(raw, list) else [raw] if raw is not None else [])]
    if not proofs:
        if challenge is not None or domain is not None:
            errors.append(_finding("proof", "failed", "The presentation is not signed, so the challenge or domain "
                                                      "asked for cannot be checked."))
        else:
            warnings.append(_finding("proof", "skipped", "The presentation carries no proof: the credentials are "
                                                         "checked, but who presented them is not proven."))
        return
    try:
        results = verify_presentation_proofs(vp)
    except (dataintegrity.ProofError, JsonLdDocumentError, ValueError) as exc:
        errors.append(_finding("proof", "failed", f"The presentation's proof could not be checked: {exc}"))
        return
    failed = next((r for r in results if not r["valid"]), None)
    if failed is not None:
        errors.append(_finding("proof", "failed", f"The presentation's proof does not hold: {failed['error']}"))
        return
    checks.append("proof")
    controllers = {r["verification_method"].split("#", 1)[0] for r in results}
    if holder is None:
        warnings.append(_finding("holder", "skipped", f"The presentation names no holder; it was signed by "
                                                      f"{', '.join(sorted(controllers))}."))
    elif controllers != {holder}:
        errors.append(_finding("holder", "failed", f"The presentation was signed by "
                                                   f"{', '.join(sorted(controllers))}, not by its holder {holder}."))
    else:
        checks.append("holder")
    for name, expected in (("challenge", challenge), ("domain", domain)):
        found = [r["proof"].get(name) for r in results]
        if expected is None:
            if any(value is not None for value in found):
                warnings.append(_finding(name, "skipped", f"The proof carries a {name}, but none was given in "
                                                          f"options to check it against."))
            continue
        if all(_same_values(value, expected) for value in found):
            checks.append(name)
        else:
            errors.append(_finding(name, "failed", f"The presentation's proof was not made for this {name} "
                                                   f"(it says {found[0]!r})."))


def _same_values(found: Any, expected: str | list[str]) -> bool:
    """A proof's challenge (one string) or domain (a string or a set of them) is the expected one."""
    if found is None:
        return False
    if isinstance(expected, str):
        return found == expected
    return set(found if isinstance(found, list) else [found]) == set(expected)


def verify_presentation_proofs(vp: dict[str, Any]) -> list[dict[str, Any]]:
    """Check each eddsa-rdfc-2022 proof of a presentation (purpose ``authentication``, a ``did:key`` holder key).

    The steps of eddsa-rdfc-2022 *Verify Proof*, as services.core.dataintegrity does them, with
    the presentation's document hash from :func:`presentation_nquads`. Raises ProofError for a
    proof it cannot use.
    """
    raw = vp.get("proof")
    proofs = raw if isinstance(raw, list) else [raw]
    ours = [p for p in proofs if isinstance(p, dict) and p.get("cryptosuite") == dataintegrity.CRYPTOSUITE]
    if len(ours) != len(proofs):
        raise dataintegrity.ProofError(f"every proof of the presentation must be a {dataintegrity.CRYPTOSUITE} "
                                       "DataIntegrityProof")
    unsecured = {k: v for k, v in vp.items() if k != "proof"}
    document_hash = hashlib.sha256(presentation_nquads(unsecured).encode()).digest()
    now = datetime.now(UTC)
    results = []
    for proof in ours:
        if proof.get("type") != dataintegrity.PROOF_TYPE:
            raise dataintegrity.ProofError(f"the proof type must be {dataintegrity.PROOF_TYPE}")
        for member in ("@context", "previousProof"):
            if member in proof:
                raise dataintegrity.ProofError(f"a presentation proof with {member} is not supported here")
        if proof.get("proofPurpose") != "authentication":
            raise dataintegrity.ProofError("a presentation's proof must have proofPurpose 'authentication'")
        vm = proof.get("verificationMethod")
        key = _did_key(vm)
        try:
            signature = multibase_decode(proof.get("proofValue"))
        except (MultiformatError, TypeError, ValueError):
            raise dataintegrity.ProofError("proofValue must be a base58btc multibase signature") from None
        if len(signature) != 64:
            raise dataintegrity.ProofError("proofValue must be a 64-byte Ed25519 signature")
        options = {k: v for k, v in proof.items() if k != "proofValue"}
        proof_hash = hashlib.sha256(canonicalize(dataintegrity.proof_config(unsecured, options)).encode()).digest()
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(signature, proof_hash + document_hash)
            valid, error = True, None
        except InvalidSignature:
            valid, error = False, "the signature does not match the presentation"
        expires = _moment(proof.get("expires"), "expires")
        if valid and expires is not None and now >= expires:
            valid, error = False, f"the proof expired at {proof['expires']}"
        results.append({"valid": valid, "error": error, "verification_method": vm, "proof": proof})
    return results


def _did_key(vm: Any) -> bytes:
    if not isinstance(vm, str) or not vm.startswith("did:key:z6Mk") or len(vm) > 200:
        raise dataintegrity.ProofError("the presentation's key must be an Ed25519 did:key (did:key:z6Mk…); other "
                                       "holder DIDs are not resolved here")
    did, _, fragment = vm.partition("#")
    multikey = did.removeprefix("did:key:")
    if fragment and fragment != multikey:
        raise dataintegrity.ProofError("the did:key's fragment must be its own key")
    try:
        return decode_public_key(multikey)
    except MultiformatError:
        raise dataintegrity.ProofError("the did:key is malformed") from None


def _moment(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise dataintegrity.ProofError(f"{name} must be an XML Schema dateTime") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def presentation_nquads(vp: dict[str, Any]) -> str:
    """RDFC-1.0 canonical N-Quads of a presentation whose credentials carry their own ``@context``.

    The dataset JSON-LD makes of it (``verifiableCredential`` is a ``@graph`` container in VC 2.0):
    the presentation's own statements; for each credential a blank-node graph ``_:g`` holding
    its statements, its proof graphs beside it, and ``<presentation> verifiableCredential _:g``.
    Each piece is canonicalised strictly (safe mode, compact form, limits), relabelled apart,
    and the union canonicalised under the same work budget.
    """
    envelope = {k: v for k, v in vp.items() if k != "verifiableCredential"}
    datasets = [_relabel(pyld.JsonLdProcessor.parse_nquads(canonicalize(envelope)), "p", None)]
    subject = _presentation_subject(datasets[0], vp)
    credentials = vp.get("verifiableCredential", [])
    for index, credential in enumerate(credentials if isinstance(credentials, list) else [credentials]):
        if not isinstance(credential, dict) or "@context" not in credential:
            raise JsonLdDocumentError(f"credential {index} must be an object with its own @context")
        graph = f"_:g{index}"
        part = _relabel(pyld.JsonLdProcessor.parse_nquads(canonicalize(credential)), f"c{index}x", graph)
        part.setdefault("@default", []).append({"subject": subject, "predicate": {"type": "IRI", "value": _VC},
                                                "object": {"type": "blank node", "value": graph}})
        datasets.append(part)
    merged: dict[str, list] = {}
    for dataset in datasets:
        for name, triples in dataset.items():
            merged.setdefault(name, []).extend(triples)
    return canonicalize_nquads(pyld.JsonLdProcessor.to_nquads(merged))


def _relabel(dataset: dict[str, list], prefix: str, default_graph: str | None) -> dict[str, list]:
    """Blank nodes renamed ``_:<prefix>…``; with ``default_graph``, the default graph moved into that graph."""
    def term(value: dict) -> dict:
        if value.get("type") == "blank node":
            return {**value, "value": f"_:{prefix}{value['value'][2:]}"}
        return value

    out: dict[str, list] = {}
    for name, triples in dataset.items():
        target = (default_graph or "@default") if name == "@default" else f"_:{prefix}{name[2:]}"
        out[target] = [{"subject": term(t["subject"]), "predicate": t["predicate"], "object": term(t["object"])}
                       for t in triples]
    return out


def _presentation_subject(dataset: dict[str, list], vp: dict[str, Any]) -> dict[str, str]:
    """The presentation's node in its own statements: its ``id``, or the blank node typed VerifiablePresentation."""
    nodes = [t["subject"] for t in dataset.get("@default", ()) if t["predicate"]["value"] == _RDF_TYPE
             and t["object"].get("value") == _VP_TYPE]
    if isinstance(vp.get("id"), str) and nodes and nodes[0]["type"] == "IRI":
        return nodes[0]
    if len({n["value"] for n in nodes}) != 1:
        raise JsonLdDocumentError("the presentation must be one node of type VerifiablePresentation")
    return nodes[0]
