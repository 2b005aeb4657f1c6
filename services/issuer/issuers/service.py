"""Issuers: the tenant, its signing keys and chain account (docs/issuer.md). They flush; the request commits.

The only network call made inside a use case is the registry's, while an issuer is
created, and it happens before anything is written (so no database lock is held while
waiting). Everything else the registry must hear goes through the outbox, written in the
same transaction as its cause.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.core.db import utcnow
from services.core.errors import Conflict, InvalidInput, NotFound
from services.issuer import keys, statuslists
from services.issuer.achievements import service as images
from services.issuer.anchoring import repository as outbox
from services.issuer.apikeys import service as apikeys
from services.issuer.apikeys.tokens import ALL_SCOPES, ENDORSER_SCOPES
from services.issuer.credentials import builder, document as cred, repository as credentials_repo
from services.issuer.ids import new_id
from services.issuer.issuers import repository as repo
from services.issuer.issuers.schemas import (IssuerCreate, IssuerCreated, IssuerRead, KeyOnChainRead, KeyRotate,
                                             KeyRotated, RegistryInfo, SigningKeyRead)
from services.issuer.models import (Issuer, KeyState, OrganisationKind, OutboxKind, OutboxState, RegistryState,
                                   SigningKey)
from services.issuer.registry_client import ChainAccount, Registry, RegistryError
from services.issuer.settings import IssuerSettings

log = logging.getLogger("microcred.issuer")


def _registry_info(issuer: Issuer) -> RegistryInfo:
    return RegistryInfo(state=issuer.registry_state.value, address=issuer.chain_address, chain_id=issuer.chain_id)


def record_account(issuer: Issuer, account: ChainAccount) -> None:
    issuer.chain_address = account.address
    state = RegistryState.active if account.state == "active" else RegistryState.registering
    if issuer.registry_state != RegistryState.active:
        issuer.registry_state = state


def create_issuer(session: Session, settings: IssuerSettings, registry: Registry | None,
                  body: IssuerCreate, kind: OrganisationKind = OrganisationKind.issuer) -> IssuerCreated:
    """A new tenant: signing key, first API key (all scopes), and its chain account at the registry.

    An endorser (``kind``, docs/endorsements.md) is made the same way — DID, key, chain account —
    and its first key has the ``endorse`` scope alone.

    The registry is asked first, with a short timeout and before anything is written; if
    it does not answer, the request goes into the outbox and the relay delivers it later.
    """
    if repo.issuer_by_slug(session, body.slug) is not None:
        raise Conflict(f"the slug {body.slug!r} is taken", code="slug_taken")
    issuer_id = new_id("end" if kind == OrganisationKind.endorser else "iss")
    did = keys.did_web(settings.issuer_url, body.slug)
    logo = images.decode_logo(settings, body.logo) if body.logo else None
    signing_key = keys.new_signing_key(settings.secret("key_encryption_key"), issuer_id)
    account: ChainAccount | None = None
    if registry is not None:
        try:
            account = registry.create_issuer(issuer_id, did, signing_key.public_key,
                                             timeout=settings.registry_create_timeout)
        except RegistryError as exc:
            log.warning("registry did not take issuer %s now (%s); the outbox will deliver it", issuer_id, exc)
    now = utcnow()
    issuer = Issuer(id=issuer_id, slug=body.slug, name=body.name, url=body.url, email=body.email,
                    logo_url=body.logo if body.logo and logo is None else None,
                    linkedin_organization_id=body.linkedin_organization_id, did=did,
                    registry_state=RegistryState.pending, kind=kind, created_at=now)
    session.add(issuer)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"the slug {body.slug!r} is taken", code="slug_taken") from None
    if logo is not None:
        issuer.logo_url = images.store_image(session, settings, issuer_id, logo).url
    session.add(SigningKey(issuer_id=issuer_id, public_key=signing_key.public_key, multikey=signing_key.multikey,
                           sealed_private_key=signing_key.sealed, state=KeyState.active, compromised=False,
                           created_at=now))
    scopes = ENDORSER_SCOPES if kind == OrganisationKind.endorser else ALL_SCOPES
    api_key_row, api_key = apikeys.add_key(session, issuer_id, "initial key", scopes, now)
    key_id = api_key_row.id
    message = outbox.add_outbox(session, issuer_id, OutboxKind.register_issuer,
                              {"did": did, "public_key": signing_key.public_key})
    if account is not None:
        record_account(issuer, account)
        message.state, message.done_at = OutboxState.done, now
    session.flush()
    return IssuerCreated(id=issuer_id, slug=issuer.slug, did=did, api_key=api_key.key, api_key_id=key_id,
                         profile_url=f"{settings.issuer_url}/issuers/{issuer.slug}",
                         did_document_url=f"{settings.issuer_url}/issuers/{issuer.slug}/did.json",
                         registry=_registry_info(issuer))


def _signing_key_read(issuer: Issuer, key: SigningKey) -> SigningKeyRead:
    return SigningKeyRead(public_key=key.public_key, multikey=key.multikey,
                          verification_method=keys.verification_method_id(issuer.did, key.multikey),
                          state=key.state.value, compromised=key.compromised, created_at=key.created_at,
                          retired_at=key.retired_at, valid_until=key.valid_until)


def issuer_read(session: Session, issuer: Issuer, registry: Registry | None = None) -> IssuerRead:
    """The issuer; with ``registry``, each key's state on chain, and loudly what failed there for good."""
    signing_keys = [_signing_key_read(issuer, k) for k in repo.signing_keys(session, issuer.id)]
    problems: list[str] = []
    if registry is not None:
        problems = _attach_chain_states(registry, issuer, signing_keys)
    return IssuerRead(id=issuer.id, slug=issuer.slug, name=issuer.name, url=issuer.url, email=issuer.email,
                      logo_url=issuer.logo_url, linkedin_organization_id=issuer.linkedin_organization_id,
                      did=issuer.did, registry=_registry_info(issuer), signing_keys=signing_keys,
                      chain_problems=problems, created_at=issuer.created_at)


def _attach_chain_states(registry: Registry, issuer: Issuer, signing_keys: list[SigningKeyRead]) -> list[str]:
    try:
        states = {s.public_key.lower(): s for s in registry.key_states(issuer.id)}
    except RegistryError as exc:
        return [f"the registry could not be asked where the keys stand on chain: {exc}"]
    problems = []
    for key in signing_keys:
        state = states.get(key.public_key.lower())
        if state is None:
            key.chain = KeyOnChainRead(registration="unknown")
            continue
        problem = None
        if state.state == "failed":
            problem = f"registering key {key.public_key} on chain failed for good: {state.error}"
        elif state.retirement_state == "failed":
            what = "the compromise of" if key.compromised else "retiring"
            problem = f"recording {what} key {key.public_key} on chain failed for good: {state.retirement_error}"
        key.chain = KeyOnChainRead(registration=state.state, registration_error=state.error,
                                   retirement=state.retirement_state, retirement_error=state.retirement_error,
                                   anchors_waiting=state.anchors_waiting, problem=problem)
        if problem:
            log.error("issuer %s: %s", issuer.id, problem)
            problems.append(problem)
    return problems


def rotate_signing_key(session: Session, settings: IssuerSettings, issuer: Issuer, body: KeyRotate) -> KeyRotated:
    """A new key signs from now on; the old one is retired (now, or from its compromise time).

    Rules (docs/issuer.md, "Keys"): a normal retirement ends at the block time the chain
    records it, so everything the old key signed until now stays valid. A compromise ends
    at ``compromised_at`` in whole seconds — even before the key existed, in which case
    nothing it signed counts — and then only what was signed *and* anchored before that
    second stays valid. Two rotations at once: the first to commit wins, the other gets 409,
    so exactly one key is ever active.
    """
    old = repo.active_signing_key(session, issuer.id)
    if old is None:  # pragma: no cover - every issuer has one
        raise Conflict("this issuer has no active signing key")
    now = utcnow()
    # A normal retirement ends with the second after now by our clock (the one that dates every
    # ``created``): whatever the old key signed up to this moment stays valid, even when the
    # chain's block clock lags ours.
    until = now.replace(microsecond=0) + timedelta(seconds=1)
    if body.compromised:
        until = (body.compromised_at or now).astimezone(UTC).replace(microsecond=0)
        if until > now:
            raise InvalidInput("compromised_at: must not be in the future")
    if not repo.retire_signing_key(session, old.id, retired_at=now, valid_until=until, compromised=body.compromised):
        raise Conflict("another key rotation for this issuer was committed first; read the issuer's keys and retry "
                       "if a new rotation is still wanted", code="concurrent_rotation")
    new = keys.new_signing_key(settings.secret("key_encryption_key"), issuer.id)
    new_row = SigningKey(issuer_id=issuer.id, public_key=new.public_key, multikey=new.multikey,
                         sealed_private_key=new.sealed, state=KeyState.active, compromised=False, created_at=now)
    session.add(new_row)
    outbox.add_outbox(session, issuer.id, OutboxKind.rotate_key,
                    {"public_key": new.public_key, "retire": old.public_key, "retire_at": int(until.timestamp()),
                     "compromised": body.compromised})
    # Every status list is signed again by the new key at the next publication.
    statuslists.resign_all(session, issuer.id)
    session.flush()
    session.refresh(old)
    invalidated = credentials_repo.credentials_invalidated_by_compromise(session, old.id, until) if body.compromised else 0
    return KeyRotated(new_key=_signing_key_read(issuer, new_row), retired_key=_signing_key_read(issuer, old),
                      invalidated_credentials=invalidated)


def public_profile(session: Session, slug: str) -> dict:
    issuer = _issuer_by_slug(session, slug)
    return {"@context": list(cred.CONTEXTS), **builder.profile_document(issuer)}


def did_document(session: Session, slug: str) -> dict:
    issuer = _issuer_by_slug(session, slug)
    multikeys = [k.multikey for k in repo.signing_keys(session, issuer.id)]
    account = (issuer.chain_id, issuer.chain_address) if issuer.chain_id and issuer.chain_address else None
    return keys.did_document(issuer.did, multikeys, account)


def _issuer_by_slug(session: Session, slug: str) -> Issuer:
    issuer = repo.issuer_by_slug(session, slug)
    if issuer is None:
        raise NotFound(f"no issuer {slug!r}")
    return issuer
