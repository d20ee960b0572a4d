"""The FC entry points: ``initialize(context)`` and ``handler(event, context)``.

``handler`` returns, for the HTTP trigger, FC's ``{statusCode, headers, isBase64Encoded, body}`` with a
JSON body; for every other trigger a JSON summary string (counts per status and the per-job list). After
a batch in which a job failed transiently it raises :class:`RedeliveryRequested` (after publishing the
outcomes) so the trigger redelivers; dedupe makes the replay rerun only what is missing.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from . import instance
from .credentials import Credentials, credentials_from
from .deadline import Deadline
from .errors import ConfigError, InvalidEvent, RedeliveryRequested, RerunError, StateStoreUnavailable
from .models import printable
from .pipeline import Invocation, process
from .report import build_report
from .responses import http_response, summary_body, summary_line
from .settings import Settings, load_settings
from .sinks.base import Sink
from .sinks.dispatch import dispatch
from .sinks.log import LogSink, emit, register_secrets, utc_now_iso
from .sources.base import Unwrapped
from .sources.detect import unwrap_event
from .state.base import StateStore

if TYPE_CHECKING:  # the E-HPC layer is imported only on the path that calls E-HPC
    from .ehpc.executor import EhpcApi

_lock = threading.Lock()
_cache: dict[str, Any] = {}  # the validated settings (and detector rules) of this instance


def now_ms() -> int:
    """The wall clock the state store decides with (tests move it to cross windows)."""
    return int(time.time() * 1000)


def initialize(context: Any) -> None:
    """FC initializer: validate settings once per instance (a bad setting fails here, named)."""
    settings = load_settings()
    from .state.placement import check_placement

    # Per-instance state inside FC would reset dedupe and budgets on every new instance: refuse it here,
    # so that no event is ever handled in that state (settings are cached only after this passes).
    check_placement(settings.state, allow_local_state=settings.allow_local_state)
    secrets = (
        settings.http_secret,
        settings.http_alert_token,
        settings.dingtalk_secret,
        settings.dingtalk_webhook,
    )
    register_secrets([secret.get_secret_value() for secret in secrets if secret is not None])
    rules = None
    if settings.detector_rules or settings.detector_rules_file:
        from .detector.rules import load_rules

        rules = load_rules(settings)  # a bad rule document stops the function here, naming rule and field
    with _lock:
        _cache["settings"] = settings
        _cache["rules"] = rules


def settings() -> Settings:
    if "settings" not in _cache:
        initialize(None)
    settings: Settings = _cache["settings"]
    return settings


def reset() -> None:
    """Forget cached settings, stores and clients (tests and the local CLI change settings)."""
    instance.reset()
    with _lock:
        _cache.clear()


def _store(config: Settings) -> StateStore:
    return instance.store(config)


def _region(config: Settings, context: Any) -> str:
    import os

    return (
        config.region
        or getattr(context, "region", None)
        or os.environ.get("FC_REGION")
        or os.environ.get("ALIBABA_CLOUD_REGION")
        or "cn-hangzhou"
    )


def _timeout(config: Settings, context: Any) -> float:
    function = getattr(context, "function", None)
    timeout = getattr(function, "timeout", None)
    return float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else config.default_timeout_s


def handler(event: Any, context: Any) -> Any:
    token = instance.current_context.set(context)
    try:
        return _handle(event, context)
    finally:
        instance.current_context.reset(token)


def _handle(event: Any, context: Any) -> Any:
    started = time.monotonic()
    started_at = utc_now_iso()
    config = settings()
    invocation_id = str(getattr(context, "request_id", "") or uuid.uuid4())
    deadline = Deadline(started + _timeout(config, context) - config.deadline_margin_s)
    try:
        unwrapped = unwrap_event(event, config)
    except InvalidEvent as exc:
        emit(
            {
                "type": "ehpc_rerun.rejected_event",
                "time": started_at,
                "invocation_id": invocation_id,
                "error_code": exc.code,
                "message": exc.message,
            }
        )
        return json.dumps(
            {"invocation_id": invocation_id, "error": {"code": exc.code, "message": exc.message}}
        )
    if unwrapped.reply is not None:
        return http_response(
            unwrapped.reply.status, unwrapped.reply.body, invocation_id, unwrapped.reply.headers
        )
    if unwrapped.history_query is not None:  # GET /jobs/{cluster_id}/{job_id}, authenticated: read the store
        from .policy.job_history_answer import answer_http

        status, body, headers = answer_http(
            unwrapped.history_query,
            config,
            lambda: _store(config),
            now_ms=now_ms(),
            invocation_id=invocation_id,
            default_region=_region(config, context),
            replay_key=unwrapped.replay_key,
        )
        return http_response(status, body, invocation_id, headers)

    creds_box: list[Credentials] = []

    def creds() -> Credentials:
        if not creds_box:
            creds_box.append(credentials_from(context))
            instance.remember(creds_box[0])
        return creds_box[0]

    def api_for(region: str) -> EhpcApi:
        return instance.client(config, creds(), region)

    inv = Invocation(
        config,
        invocation_id,
        _region(config, context),
        deadline,
        lambda: _store(config),
        api_for,
        now_ms=lambda: now_ms(),  # noqa: PLW0108 - late binding: tests replace app.now_ms
    )
    try:
        _check_replay(unwrapped, inv)
        records = list(unwrapped.records)
        if unwrapped.node_checks:  # E-HPC node events: ListNodes + ListJobs decide (nodes/check.py)
            from .nodes.check import node_check_records

            records.extend(node_check_records(unwrapped.node_checks, inv))
        if unwrapped.scan is not None:
            from .detector import scan_records

            records.extend(scan_records(unwrapped.scan, inv, _cache.get("rules")))
        result = process(records, inv)
    except _Replay as exc:
        return http_response(401, {"error": {"code": "ReplayedRequest", "message": str(exc)}}, invocation_id)
    except Exception as exc:  # no decision could be made or recorded: say why, then redeliver
        return _failed(exc, unwrapped.http, invocation_id)

    function = getattr(context, "function", None)
    report = build_report(
        outcomes=tuple(result.outcomes),
        note=result.note,
        source=unwrapped.kind.value,
        invocation_id=invocation_id,
        function_name=getattr(function, "name", None),
        region=_region(config, context),
        started_at=started_at,
        duration_ms=int((time.monotonic() - started) * 1000),
        dry_run=config.dry_run,
    )
    sink_credentials = creds_box[0] if creds_box else _optional_creds(context)
    # Every invocation, whatever its trigger, runs the sinks: a DingTalk digest may be due (sinks/digest.py).
    sinks = _sinks(config, sink_credentials, invocation_id)
    dispatch(report, sinks, retries=config.sink_retries, deadline_s=max(deadline.remaining(), 0.0))
    if unwrapped.http:
        status, body, headers = summary_body(report)
        return http_response(status, body, invocation_id, headers)
    failures = result.transient_failures
    if failures:
        names = ", ".join(f"{o.cluster_id}/{o.job_id} ({o.error_code})" for o in failures[:20])
        more = f" and {len(failures) - 20} more" if len(failures) > 20 else ""
        raise RedeliveryRequested(
            f"{len(failures)} job(s) failed transiently and will be retried on redelivery: {names}{more}"
        )
    return printable(json.dumps(summary_line(report), ensure_ascii=False))


def _failed(exc: Exception, http: bool, invocation_id: str) -> Any:
    """Nothing was rerun (claims were released): write why. HTTP callers get JSON; triggers redeliver."""
    code = exc.code if isinstance(exc, RerunError) else "InternalError"
    message = exc.message if isinstance(exc, RerunError) else f"{type(exc).__name__}: {str(exc)[:300]}"
    emit(
        {
            "type": "ehpc_rerun.error",
            "time": utc_now_iso(),
            "invocation_id": invocation_id,
            "error_code": code,
            "message": f"{message}; nothing was rerun, the event is left for redelivery",
        }
    )
    if not http:
        raise exc
    status = 503 if isinstance(exc, StateStoreUnavailable) else 500
    headers = {"Retry-After": "30"} if status == 503 else {}
    return http_response(status, {"error": {"code": code, "message": message}}, invocation_id, headers)


def _sinks(config: Settings, creds: Credentials | None, invocation_id: str) -> list[Sink]:
    """The configured sinks; if they cannot be built, the log sink alone (the outcome is never lost)."""
    from .sinks import build_sinks

    try:
        # the DingTalk digest shares the function's state store, and the clock decisions are made with
        # (late binding: tests replace app.now_ms)
        return build_sinks(
            config,
            creds,
            store=lambda: _store(config),
            now_ms=lambda: now_ms(),  # noqa: PLW0108
        )
    except ConfigError as exc:
        emit(
            {
                "type": "ehpc_rerun.error",
                "time": utc_now_iso(),
                "invocation_id": invocation_id,
                "error_code": exc.code,
                "message": f"sinks not built, publishing to the log only: {exc.message}",
            }
        )
        return [LogSink()]


class _Replay(Exception):
    pass


def _check_replay(unwrapped: Unwrapped, inv: Invocation) -> None:
    if not unwrapped.replay_key:
        return
    window_ms = inv.settings.http_max_skew_s * 2000
    result = inv.store().claim(
        [unwrapped.replay_key],
        owner=inv.invocation_id,
        detail="http",
        lease_ms=window_ms,
        budget_window_ms=1,
        now_ms=inv.now_ms(),
    )
    if not result[0].acquired:
        raise _Replay("this signed request was already received; sign every request anew")


def _optional_creds(context: Any) -> Credentials | None:
    try:
        return credentials_from(context)
    except Exception:  # sinks that need credentials report their own error; the log sink does not
        return None
