"""GET /metrics: each app's own Prometheus registry, its sources, and the open-socket counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app
from flask.blueprints import BlueprintSetupState
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest

from dashboard.auth import login_required
from dashboard.metric_families import ClientCounts, Sources, VigilCollector
from dashboard.services import Services
from engine.clock import SystemClock

bp = Blueprint("metrics", __name__)
EXTENSION_KEY = "vigil_metrics"


@dataclass
class AppMetrics:
    """One per app (tests build many apps in one process, so never the global registry).

    `sources.engine_data` and `sources.notifier_data` may be replaced by a web process that
    reads the engine's numbers from elsewhere; the families are the same.
    """

    registry: CollectorRegistry
    sources: Sources

    @staticmethod
    def of(app: Flask) -> AppMetrics:
        found: AppMetrics = app.extensions[EXTENSION_KEY]
        return found


def _install(app: Flask) -> AppMetrics:
    """The registry and its sources, wired to this process's runtime and notifier. Everything
    is looked up at scrape time, so the order of create_app's steps does not matter."""

    def svc() -> Services:
        return Services.of(app)

    def engine_data() -> Mapping[str, Any] | None:
        runtime = svc().runtime
        return runtime.metrics_data() if runtime is not None else None

    def notifier_data() -> Mapping[str, Any] | None:
        notifier = svc().notifier
        counts = getattr(notifier, "delivery_counts", None)
        return counts() if callable(counts) else None

    def now() -> float:
        runtime = svc().runtime
        return (runtime.clock if runtime is not None else SystemClock()).time()

    def webhook_counts() -> Mapping[str, int]:
        webhook = app.extensions.get("vigil_webhook")
        return dict(webhook.counts) if webhook is not None else {}

    sources = Sources(
        engine_data=engine_data,
        notifier_data=notifier_data,
        now=now,
        bridge=lambda: svc().bridge,
        clients=ClientCounts(),
        webhook_counts=webhook_counts,
    )
    registry = CollectorRegistry(auto_describe=False, support_collectors_without_names=True)
    registry.register(VigilCollector(sources))
    metrics = AppMetrics(registry, sources)
    app.extensions[EXTENSION_KEY] = metrics
    return metrics


@bp.record_once
def _on_register(state: BlueprintSetupState) -> None:
    _install(state.app)


def client_connected(sid: str, role: str) -> None:
    """From the Socket.IO connect handler, once the connection is accepted."""
    AppMetrics.of(current_app).sources.clients.connected(sid, role)


def client_disconnected(sid: str) -> None:
    AppMetrics.of(current_app).sources.clients.disconnected(sid)


@bp.get("/metrics")
@login_required()
def metrics() -> Any:
    body = generate_latest(AppMetrics.of(current_app).registry)
    # generate_latest writes the 0.0.4 text format (what Prometheus scrapes by default).
    return Response(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
