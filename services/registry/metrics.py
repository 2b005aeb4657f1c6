"""What the registry's ``/metrics`` measures in the database at scrape time (docs/operations.md).

Read by the API process, so the queues of the anchoring worker show wherever that worker runs
(its own process, or a thread of the API): nothing in the worker counts anything.

* ``microcred_registry_queue_items{queue, state}`` and ``…_queue_oldest_age_seconds``: anchors,
  revocations and status-list versions ``queued`` (waiting for a batch, or for their key) or
  ``submitted`` (in a transaction not yet confirmed); superseded list versions are not waiting.
  Counted through the partial indexes of migration 0009_metrics_queue_indexes. For ``status_lists`` the oldest age is
  how long the newest version of the list furthest behind has waited for the chain.
* ``microcred_registry_chain_jobs{kind, state}`` and ``…_chain_job_oldest_age_seconds{state}``:
  transactions built, broadcast or mined and not yet confirmed.
* ``microcred_registry_chain_jobs_failed_unacknowledged{kind}``: refused for good and not yet
  acknowledged by an operator (``POST /api/v1/jobs/{id}/acknowledge``).
* ``microcred_registry_gas_used_total{issuer}``: gas of every mined transaction per issuer
  (its registry issuer id; ``operator`` for the owner account's funding and registrations).
  A sum over all jobs, so it is kept for ``GAS_CACHE_SECONDS`` between scrapes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.core.db import utcnow
from services.core.metrics import DbCollector
from services.registry.models import (Anchor, ChainAccount, ChainJob, ItemState, JobState, Revocation,
                                      StatusListState, StatusListUpdate)

QUEUES = (("anchors", Anchor, (ItemState.queued, ItemState.submitted)),
          ("revocations", Revocation, (ItemState.queued, ItemState.submitted)),
          ("status_lists", StatusListUpdate, (StatusListState.queued, StatusListState.submitted)))
OPEN_JOBS = (JobState.pending, JobState.sent, JobState.mined)
GAS_CACHE_SECONDS = 30.0
OPERATOR = "operator"


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


class RegistryMeasures:
    def __init__(self, per_issuer: bool = True) -> None:
        self.per_issuer = per_issuer
        self._gas: tuple[float, dict[str, int]] | None = None
        self._gas_lock = threading.Lock()

    def __call__(self, session: Session) -> Iterator:
        now = utcnow()
        items = GaugeMetricFamily("microcred_registry_queue_items",
                                  "Work waiting for the chain, by queue and state.", labels=("queue", "state"))
        oldest = GaugeMetricFamily("microcred_registry_queue_oldest_age_seconds",
                                   "Age of the oldest waiting item, by queue and state (0: none).",
                                   labels=("queue", "state"))
        for queue, model, states in QUEUES:
            found = {state: (count, first) for state, count, first in session.execute(
                select(model.state, func.count(), func.min(model.created_at))
                .where(model.state.in_(states)).group_by(model.state))}
            for state in states:
                count, first = found.get(state, (0, None))
                items.add_metric([queue, state.value], count)
                oldest.add_metric([queue, state.value], _age(now, first))
        yield items
        yield oldest

        jobs = GaugeMetricFamily("microcred_registry_chain_jobs",
                                 "Transactions not yet confirmed, by kind and state.", labels=("kind", "state"))
        job_age = GaugeMetricFamily("microcred_registry_chain_job_oldest_age_seconds",
                                    "Age of the oldest unconfirmed transaction, by state (0: none).",
                                    labels=("state",))
        firsts: dict[str, datetime | None] = {}
        for kind, state, count, first in session.execute(
                select(ChainJob.kind, ChainJob.state, func.count(), func.min(ChainJob.created_at))
                .where(ChainJob.state.in_(OPEN_JOBS)).group_by(ChainJob.kind, ChainJob.state)):
            jobs.add_metric([kind.value, state.value], count)
            earlier = firsts.get(state.value)
            if first is not None and (earlier is None or first < earlier):
                firsts[state.value] = first
        for state in OPEN_JOBS:
            job_age.add_metric([state.value], _age(now, firsts.get(state.value)))
        yield jobs
        yield job_age

        failed = GaugeMetricFamily("microcred_registry_chain_jobs_failed_unacknowledged",
                                   "Transactions refused for good that no operator has acknowledged yet.",
                                   labels=("kind",))
        for kind, count in session.execute(
                select(ChainJob.kind, func.count())
                .where(ChainJob.state == JobState.failed, ChainJob.acknowledged_at.is_(None))
                .group_by(ChainJob.kind)):
            failed.add_metric([kind.value], count)
        yield failed

        gas = CounterMetricFamily("microcred_registry_gas_used", "Gas used by mined transactions, per issuer.",
                                  labels=("issuer",))
        for issuer, total in sorted(self._gas_by_issuer(session).items()):
            gas.add_metric([issuer], total)
        yield gas

        accounts = GaugeMetricFamily("microcred_registry_accounts", "Chain accounts, by state.", labels=("state",))
        for state, count in session.execute(select(ChainAccount.state, func.count()).group_by(ChainAccount.state)):
            accounts.add_metric([state.value], count)
        yield accounts

    def _gas_by_issuer(self, session: Session) -> dict[str, int]:
        with self._gas_lock:
            if self._gas is not None and time.monotonic() - self._gas[0] < GAS_CACHE_SECONDS:
                return self._gas[1]
            issuers = dict(session.execute(select(ChainAccount.address, ChainAccount.issuer_id)).all())
            totals: dict[str, int] = {}
            for sender, total in session.execute(
                    select(ChainJob.sender, func.sum(ChainJob.gas_used))
                    .where(ChainJob.gas_used.is_not(None)).group_by(ChainJob.sender)):
                who = issuers.get(sender, OPERATOR) if self.per_issuer else "all"
                totals[who] = totals.get(who, 0) + int(total or 0)
            self._gas = (time.monotonic(), totals)
            return totals


def collector(sessions, settings) -> DbCollector:
    """``sessions``: a callable giving the app's sessionmaker once it has one."""
    return DbCollector("registry", sessions, RegistryMeasures(getattr(settings, "metrics_per_issuer", True)))
