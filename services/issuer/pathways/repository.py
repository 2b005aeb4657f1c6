"""Pathways, award jobs, awards and external components in the database (docs/pathways.md).

Every tenant lookup takes the issuer id. Functions flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from services.issuer.models import (Achievement, AwardJob, Credential, ExternalCredential, PathwayAward,
                                    PathwayComponent)


def achievements_by_id(session: Session, issuer_id: str, ids: Iterable[str]) -> dict[str, Achievement]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {a.id: a for a in session.scalars(select(Achievement).where(Achievement.issuer_id == issuer_id,
                                                                       Achievement.id.in_(wanted)))}


def requires_of(session: Session, issuer_id: str, achievement_id: str) -> dict | None:
    return session.scalar(select(Achievement.requires).where(Achievement.issuer_id == issuer_id,
                                                             Achievement.id == achievement_id))


def pathways(session: Session, issuer_id: str) -> Sequence[Achievement]:
    return session.scalars(select(Achievement).where(Achievement.issuer_id == issuer_id,
                                                     Achievement.requires.is_not(None))
                           .order_by(Achievement.created_at, Achievement.id)).all()


def set_components(session: Session, issuer_id: str, pathway_id: str, elements: Iterable[str]) -> None:
    session.execute(delete(PathwayComponent).where(PathwayComponent.pathway_id == pathway_id))
    rows = [{"pathway_id": pathway_id, "component": e, "issuer_id": issuer_id} for e in sorted(set(elements))]
    if rows:
        session.execute(insert(PathwayComponent), rows)


def is_component(session: Session, issuer_id: str, components: Iterable[str]) -> bool:
    """Whether any of these achievements (or external refs) is an element of a pathway of the issuer."""
    wanted = sorted(set(components))
    return bool(wanted) and session.scalar(
        select(PathwayComponent.pathway_id).where(PathwayComponent.issuer_id == issuer_id,
                                                  PathwayComponent.component.in_(wanted)).limit(1)) is not None


def has_credentials(session: Session, issuer_id: str, achievement_id: str) -> bool:
    return session.scalar(select(Credential.id).where(Credential.issuer_id == issuer_id,
                                                      Credential.achievement_id == achievement_id).limit(1)) is not None


def add_jobs(session: Session, issuer_id: str, learner_ids: Iterable[str], now: datetime) -> None:
    rows = [{"issuer_id": issuer_id, "learner_id": lid, "attempts": 0, "next_attempt_at": now, "created_at": now}
            for lid in sorted(set(learner_ids))]
    if rows:
        session.execute(insert(AwardJob), rows)


def due_jobs(session: Session, now: datetime, limit: int) -> list[int]:
    return list(session.scalars(select(AwardJob.id).where(AwardJob.next_attempt_at <= now,
                                                          or_(AwardJob.lease_until.is_(None),
                                                              AwardJob.lease_until < now))
                                .order_by(AwardJob.id).limit(limit)))


def claim_job(session: Session, job_id: int, holder: str, now: datetime, ttl: timedelta) -> bool:
    """One conditional update: only one runner works a job at a time; a crashed one's lease lapses."""
    result = session.execute(update(AwardJob).where(AwardJob.id == job_id, or_(AwardJob.lease_until.is_(None),
                                                                               AwardJob.lease_until < now))
                             .values(lease_holder=holder, lease_until=now + ttl)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


def jobs_of(session: Session, issuer_id: str, learner_id: str) -> list[int]:
    return list(session.scalars(select(AwardJob.id).where(AwardJob.issuer_id == issuer_id,
                                                          AwardJob.learner_id == learner_id)))


def finish_jobs(session: Session, job_ids: Iterable[int]) -> None:
    ids = sorted(set(job_ids))
    if ids:
        session.execute(delete(AwardJob).where(AwardJob.id.in_(ids)))


def retry_job(session: Session, job_id: int, error: str, now: datetime) -> None:
    job = session.get(AwardJob, job_id)
    if job is not None:
        job.attempts += 1
        job.last_error = error[:2000]
        job.next_attempt_at = now + timedelta(seconds=min(60, 2 ** min(job.attempts, 6)))
        job.lease_holder = job.lease_until = None


def pending_jobs(session: Session, issuer_id: str | None = None) -> int:
    query = select(func.count()).select_from(AwardJob)
    if issuer_id is not None:
        query = query.where(AwardJob.issuer_id == issuer_id)
    return session.scalar(query)


def learner_credentials(session: Session, issuer_id: str, learner_id: str) -> Sequence[Credential]:
    return session.scalars(select(Credential).where(Credential.issuer_id == issuer_id,
                                                    Credential.learner_id == learner_id)
                           .order_by(Credential.created_at, Credential.id)).all()


def learners_holding(session: Session, issuer_id: str, achievement_ids: Iterable[str]) -> list[str]:
    wanted = sorted(set(achievement_ids))
    if not wanted:
        return []
    return list(session.scalars(select(Credential.learner_id).where(
        Credential.issuer_id == issuer_id, Credential.achievement_id.in_(wanted),
        Credential.learner_id.is_not(None)).distinct()))


def awards(session: Session, issuer_id: str, learner_id: str) -> dict[str, PathwayAward]:
    return {a.pathway_id: a for a in session.scalars(select(PathwayAward).where(
        PathwayAward.issuer_id == issuer_id, PathwayAward.learner_id == learner_id))}


def award_of_credential(session: Session, issuer_id: str, credential_id: str) -> PathwayAward | None:
    return session.scalar(select(PathwayAward).where(PathwayAward.issuer_id == issuer_id,
                                                     PathwayAward.credential_id == credential_id))


def awarded_credential_ids(session: Session, issuer_id: str, credential_ids: Iterable[str]) -> set[str]:
    wanted = sorted(set(credential_ids))
    if not wanted:
        return set()
    return set(session.scalars(select(PathwayAward.credential_id).where(PathwayAward.issuer_id == issuer_id,
                                                                        PathwayAward.credential_id.in_(wanted))))


def externals(session: Session, issuer_id: str, learner_id: str) -> Sequence[ExternalCredential]:
    return session.scalars(select(ExternalCredential).where(ExternalCredential.issuer_id == issuer_id,
                                                            ExternalCredential.learner_id == learner_id)
                           .order_by(ExternalCredential.created_at, ExternalCredential.id)).all()


def external(session: Session, issuer_id: str, learner_id: str, external_id: str) -> ExternalCredential | None:
    return session.scalar(select(ExternalCredential).where(ExternalCredential.issuer_id == issuer_id,
                                                           ExternalCredential.learner_id == learner_id,
                                                           ExternalCredential.id == external_id))


def external_by_hash(session: Session, issuer_id: str, learner_id: str, credential_hash: str) -> ExternalCredential | None:
    return session.scalar(select(ExternalCredential).where(ExternalCredential.issuer_id == issuer_id,
                                                           ExternalCredential.learner_id == learner_id,
                                                           ExternalCredential.credential_hash == credential_hash))


def externals_due(session: Session, now: datetime, limit: int) -> list[str]:
    return list(session.scalars(select(ExternalCredential.id).where(ExternalCredential.next_check_at <= now)
                                .order_by(ExternalCredential.next_check_at).limit(limit)))
