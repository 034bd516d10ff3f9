"""Prometheus metrics: requests, latency, decisions per category.

One registry per app (tests build many apps). Under `jiyu serve --workers N` every worker
writes to PROMETHEUS_MULTIPROC_DIR and `/metrics` aggregates all of them.
"""

from __future__ import annotations

import os

from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

ENDPOINTS = {"/v1/check", "/v1/conversations", "/v1/lexicon", "/v1/admin/reload", "/healthz", "/readyz", "/metrics"}
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class CacheCollector:
    """The serving detector's verdict cache, read at scrape time (this process only)."""

    def __init__(self, detector: Callable) -> None:
        self.detector = detector

    def collect(self):  # noqa: ANN201
        d = self.detector()
        info = d.cache_info() if d is not None else None
        if info is None:
            return
        for name, value in (("hits", info.hits), ("misses", info.misses)):
            yield CounterMetricFamily(f"jiyu_cache_{name}", f"Verdict cache {name} since the last (re)load", value=value)
        yield GaugeMetricFamily("jiyu_cache_entries", "Verdicts held in the cache", value=info.currsize)


class Metrics:
    def __init__(self, detector: Callable | None = None) -> None:
        self.registry = CollectorRegistry()
        if detector is not None:
            self.registry.register(CacheCollector(detector))
        self.requests = Counter("jiyu_requests", "HTTP requests", ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram("jiyu_request_seconds", "Request latency", ["endpoint"], buckets=BUCKETS, registry=self.registry)
        self.verdicts = Counter("jiyu_decisions", "Verdicts by decision and first label", ["decision", "category"], registry=self.registry)
        self._decision_children: dict[tuple[str, str], Any] = {}

    def request(self, path: str, method: str, status: int, seconds: float) -> None:
        endpoint = path if path in ENDPOINTS else "other"  # bounded label values
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def decisions(self, verdicts) -> None:  # noqa: ANN001
        for v in verdicts:
            key = (v.decision, v.labels[0] if v.labels else "none")
            child = self._decision_children.get(key)
            if child is None:  # labels() takes a lock and builds a key: once per pair, not per verdict
                child = self._decision_children[key] = self.verdicts.labels(*key)
            child.inc()

    def render(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
