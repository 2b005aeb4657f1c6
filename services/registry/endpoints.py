"""The registry's HTTP routes (docs/registry.md). Thin: parse, call the service, shape the answer."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Response

from services.registry import service
from services.registry.chain import ChainError
from services.registry.deps import ChainDep, OwnerDep, ServiceAuth, SessionDep, SettingsDep
from services.registry.schemas import (AnchorReceipt, AnchorsIn, ChainStatus, HashesIn, IssuerCreate, IssuerRead,
                                       JobRead, KeyRotate, QueuedOut, ReceiptsIn, ReceiptsOut, RevocationRead, StatusListIn, StatusListQueued,
                                       StatusListRead, _bytes32)
from services.core.errors import InvalidInput

router = APIRouter(prefix="/api/v1")


def _path_hash(value: str) -> str:
    try:
        return _bytes32(value)
    except ValueError as exc:
        raise InvalidInput(f"hash: {exc}") from None


@router.post("/issuers", status_code=201, dependencies=[ServiceAuth], response_model=IssuerRead)
def create_issuer(body: IssuerCreate, session: SessionDep, settings: SettingsDep, owner: OwnerDep,
                  response: Response) -> IssuerRead:
    """Create the issuer's chain account; funding and registration on chain follow."""
    issuer, created = service.create_issuer(session, settings, owner, body)
    if not created:
        response.status_code = 200
    return issuer


@router.get("/issuers/{issuer_id}", dependencies=[ServiceAuth], response_model=IssuerRead)
def get_issuer(issuer_id: str, session: SessionDep) -> IssuerRead:
    """The account, and each key's chain state (queued / submitted / confirmed / failed)."""
    return service.get_issuer(session, issuer_id)


@router.post("/issuers/{issuer_id}/keys", status_code=202, dependencies=[ServiceAuth], response_model=IssuerRead)
def rotate_key(issuer_id: str, body: KeyRotate, session: SessionDep, owner: OwnerDep) -> IssuerRead:
    """Register a new Ed25519 key and/or retire one (for compromise, from a past time)."""
    return service.rotate_key(session, owner, issuer_id, body)


@router.post("/anchors", status_code=202, dependencies=[ServiceAuth], response_model=QueuedOut)
def queue_anchors(body: AnchorsIn, session: SessionDep) -> QueuedOut:
    """Queue credential hashes; the worker anchors them in the next Merkle batch once the key that
    signed them (``public_key``) is registered on chain."""
    return service.queue_anchors(session, body)


@router.get("/anchors/{credential_hash}", response_model=AnchorReceipt)
def anchor_receipt(session: SessionDep, chain: ChainDep, credential_hash: str = Path(max_length=80)) -> AnchorReceipt:
    """The anchoring receipt of a hash (public: it holds only hashes)."""

    def head() -> int | None:
        try:
            return chain.head() if chain else None
        except ChainError:
            return None

    return service.anchor_receipt(session, chain, head, _path_hash(credential_hash))


@router.post("/anchors/receipts", dependencies=[ServiceAuth], response_model=ReceiptsOut)
def anchor_receipts(body: ReceiptsIn, session: SessionDep, chain: ChainDep) -> ReceiptsOut:
    """The receipts of up to 10,000 hashes in one call (the issuer's relay), in order; null for a hash
    never queued. Service token only: one call does the work of thousands of public reads."""

    def head() -> int | None:
        try:
            return chain.head() if chain else None
        except ChainError:
            return None

    return ReceiptsOut(receipts=service.anchor_receipts(session, chain, head, list(body.hashes)))


@router.post("/revocations", status_code=202, dependencies=[ServiceAuth], response_model=QueuedOut)
def queue_revocations(body: HashesIn, session: SessionDep) -> QueuedOut:
    return service.queue_revocations(session, body)


@router.get("/revocations/{credential_hash}", response_model=list[RevocationRead])
def revocation_state(session: SessionDep, credential_hash: str = Path(max_length=80)) -> list[RevocationRead]:
    return service.revocation_state(session, _path_hash(credential_hash))


@router.post("/status-lists", status_code=202, dependencies=[ServiceAuth], response_model=StatusListQueued)
def queue_status_list(body: StatusListIn, session: SessionDep) -> StatusListQueued:
    """Queue a new version of one of the issuer's status lists; only the newest version of each
    list is set on chain (``setStatusList(s)``), once the issuer's registration is confirmed."""
    return service.queue_status_list(session, body)


@router.get("/status-lists/{list_id}", response_model=StatusListRead)
def status_list_state(session: SessionDep, list_id: str = Path(max_length=80),
                      issuer_id: str = Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
                      ) -> StatusListRead:
    """The newest version known of the issuer's list and where it stands (public: it holds only hashes)."""
    try:
        list_id = _bytes32(list_id)
    except ValueError as exc:
        raise InvalidInput(f"list_id: {exc}") from None
    return service.status_list_state(session, issuer_id, list_id)


@router.get("/chain", response_model=ChainStatus)
def chain_status(session: SessionDep, settings: SettingsDep, chain: ChainDep, owner: OwnerDep) -> ChainStatus:
    """Chain id, contract, head block, health and anchoring lag."""
    return service.chain_status(session, settings, chain, owner)


@router.get("/jobs", dependencies=[ServiceAuth], response_model=list[JobRead])
def failed_jobs(session: SessionDep, state: str = Query("failed", pattern="^failed$"),
                unacknowledged: bool = False, limit: int = Query(50, ge=1, le=500)) -> list[JobRead]:
    """Jobs the contract refused for good, newest first."""
    return service.list_failed_jobs(session, limit, unacknowledged)


@router.post("/jobs/{job_id}/acknowledge", dependencies=[ServiceAuth], response_model=JobRead)
def acknowledge_job(job_id: int, session: SessionDep) -> JobRead:
    """An operator has seen this failed job: it no longer turns ``/chain`` health red."""
    return service.acknowledge_job(session, job_id)


@router.post("/jobs/{job_id}/retry", dependencies=[ServiceAuth], response_model=JobRead)
def retry_job(job_id: int, session: SessionDep) -> JobRead:
    """Send a failed fund / registration / key job again."""
    return service.retry_job(session, job_id)


@router.get("/health")
def health() -> dict:
    return {"status": "ok"}
