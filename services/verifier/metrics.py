"""What the verifier counts (docs/operations.md): every verification it computes, by verdict and by check.

* ``microcred_verifier_verifications_total{status}``: verdicts (``valid``, ``pending``,
  ``revoked``, ``suspended``, ``expired``, ``invalid``, ``unavailable``);
* ``microcred_verifier_checks_total{check, status}``: each check of each report (``format``,
  ``signature``, ``issuer``, ``integrity``, ``anchor``, ``revocation``, ``expiry`` × ``passed``,
  ``failed``, ``pending``, ``skipped``);
* ``microcred_verifier_verification_duration_seconds``: time to compute one report;
* ``microcred_verifier_chain_requests_total`` and ``microcred_verifier_chain_calls_total{method}``:
  what was asked of the chain's node (an operator pays a hosted endpoint by them);
* ``microcred_verifier_revocation_index_age_seconds`` and
  ``microcred_verifier_revocation_index_syncs_total{outcome}``: how old the index of per-hash
  revocations is, and its syncs (services/verifier/revocations.py).

Counted as an observer of the checker (``Checker.observers``), told of each report its
``verify_document`` computes — which every route and the checker's own ``verify_credential_id``
go through; a report served again from the short report cache
(MICROCRED_REPORT_TTL) is not a new verification and is not counted again. Labels come from
our own verification rules (services/core/verification.py), never from the credential.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from services.core.metrics import LATENCY_BUCKETS


class ChainCollector(Collector):
    """What the verifier asked of the chain's node, and its revocation index's age and syncs, read at scrape time."""

    def __init__(self, chain) -> None:
        self.chain = chain
        self.index = chain.revocations

    def collect(self):
        requests = CounterMetricFamily("microcred_verifier_chain_requests",
                                       "HTTP requests to the chain's JSON-RPC endpoint (each one batch).")
        requests.add_metric([], self.chain.requests_sent)
        yield requests
        calls = CounterMetricFamily("microcred_verifier_chain_calls",
                                    "JSON-RPC calls in those requests, by method.", labels=("method",))
        for method, count in sorted(self.chain.calls_sent.items()):
            calls.add_metric([method], count)
        yield calls
        if self.index is None:
            return
        age = self.index.age
        gauge = GaugeMetricFamily("microcred_verifier_revocation_index_age_seconds",
                                  "Seconds since the index of per-hash revocations was last complete "
                                  "(absent until its first sync).")
        if age is not None:
            gauge.add_metric([], age)
        yield gauge
        syncs = CounterMetricFamily("microcred_verifier_revocation_index_syncs",
                                    "Syncs of the revocation index with the chain's logs, by outcome.",
                                    labels=("outcome",))
        for outcome, count in self.index.syncs.items():
            syncs.add_metric([outcome], count)
        yield syncs


class VerifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.verdicts = Counter("microcred_verifier_verifications", "Verifications computed, by verdict.",
                                ("status",), registry=registry)
        self.checks = Counter("microcred_verifier_checks", "Checks of computed verifications, by check and outcome.",
                              ("check", "status"), registry=registry)
        self.duration = Histogram("microcred_verifier_verification_duration_seconds",
                                  "Time to compute one verification report.", buckets=LATENCY_BUCKETS,
                                  registry=registry)
        self._children: dict[tuple, object] = {}
        self._chain_collector: ChainCollector | None = None

    def watch_chain(self, chain) -> None:
        """Report ``chain`` (the checker's ChainView, built anew each time the app starts) instead of any before it."""
        if self._chain_collector is not None:
            self.registry.unregister(self._chain_collector)
        self._chain_collector = ChainCollector(chain)
        self.registry.register(self._chain_collector)

    def observe(self, report, seconds: float) -> None:
        self.duration.observe(seconds)
        self.count(report)

    def count(self, report) -> None:
        self._child(self.verdicts, str(report.status)).inc()
        for check in report.checks:
            self._child(self.checks, str(check.id), str(check.status)).inc()

    def _child(self, metric, *labels: str):
        """The labelled child, kept: ``labels()`` takes a lock and builds its key on every call (the
        labels are our rules' few names, so this stays small)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child


def instrument(checker, metrics: VerifierMetrics) -> None:
    """Count every report the checker computes (its ``observers``; a checker without them, such as a
    test's stand-in, is left as it is)."""
    observers = getattr(checker, "observers", None)
    if observers is not None:
        observers.append(metrics.observe)
    chain = getattr(checker, "chain", None)
    if chain is not None and hasattr(chain, "calls_sent"):
        metrics.watch_chain(chain)
