"""The award runner: works award jobs, each under a lease, each learner in one transaction (docs/pathways.md).

Any number of runners may run (a thread in every API process, one in the outbox process): a
job is claimed with a conditional update, and a runner that dies holding one lets it lapse
(``LEASE_TTL``) for the next. A failed pass (a signing key that does not open, a database
error) leaves the job to be retried with backoff; nothing is lost, and the unique award row
keeps a retry from awarding twice. External components due for a new check are re-verified
here too (``external.recheck_due``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from services.core.db import transaction, utcnow
from services.core.wakeup import idle_wait, on_commit
from services.issuer.issuers import repository as issuers_repo
from services.issuer.models import AwardJob
from services.issuer.pathways import awards, repository as repo
from services.issuer.settings import IssuerSettings

log = logging.getLogger("microcred.issuer.pathways")

LEASE_TTL = timedelta(seconds=60)


class AwardRunner:
    def __init__(self, settings: IssuerSettings, sessions: sessionmaker[Session], holder: str | None = None,
                 verifier=None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.verifier = verifier  # external.VerifierClient, made on first use

    def run(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        """Pass after pass until ``stop``; after passes with nothing to do the wait doubles from
        ``award_interval`` up to ``runner_idle_interval``. The API sets ``wake`` when it issues."""
        base = self.settings.award_interval
        delay = base
        wake = wake or threading.Event()
        on_commit(self.settings.database_url, wake)  # a commit by another process wakes it too
        while not stop.is_set():
            try:
                worked = self.tick()
            except Exception:  # keep the runner alive; the jobs stay claimable
                log.exception("award runner pass failed")
                worked = False
            if worked:
                delay = base
                continue
            delay = idle_wait(stop, wake, delay, base, self.settings.runner_idle_interval)

    def tick(self) -> bool:
        """One pass: external components due for a check, then due award jobs; True if it did anything."""
        from services.issuer.pathways import external

        worked = external.recheck_due(self.settings, self.sessions, self._verifier())
        with transaction(self.sessions) as session:
            ids = repo.due_jobs(session, utcnow(), 100)
        for job_id in ids:
            worked = self.process(job_id) or worked
        return worked

    def _verifier(self):
        if self.verifier is None:
            from services.issuer.pathways.verifier_client import VerifierClient

            self.verifier = VerifierClient(self.settings.verifier_url, self.settings.verifier_timeout)
        return self.verifier

    def process(self, job_id: int) -> bool:
        from services.issuer.pathways import external

        with transaction(self.sessions) as session:
            if not repo.claim_job(session, job_id, self.holder, utcnow(), LEASE_TTL):
                return False
            job = session.get(AwardJob, job_id)
            issuer_id, learner_id = job.issuer_id, job.learner_id
        try:
            # Re-checked outside the award's transaction: no lock is held while the verifier works.
            external.recheck_for_award(self.settings, self.sessions, self._verifier(), issuer_id, learner_id)
            with transaction(self.sessions) as session:
                job = session.get(AwardJob, job_id)
                if job is None:
                    return False
                # The learner's jobs committed before the evaluation reads anything: their
                # components are all seen by it, so it answers them all. A job committed later
                # stays, and is worked on its own.
                answered = repo.jobs_of(session, job.issuer_id, job.learner_id)
                issuer = issuers_repo.issuer(session, job.issuer_id)
                awards.evaluate(session, self.settings, issuer, job.learner_id, utcnow())
                repo.finish_jobs(session, [job_id, *answered])
        except Exception as exc:
            log.exception("award job %s failed; retried later", job_id)
            with transaction(self.sessions) as session:
                repo.retry_job(session, job_id, f"{type(exc).__name__}: {exc}", utcnow())
        return True

    def close(self) -> None:
        if self.verifier is not None:
            self.verifier.close()
