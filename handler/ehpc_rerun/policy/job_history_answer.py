"""The answer to "why was my job rerun?": a job's history document (:mod:`.job_history`) read back, with
its budget and when it may next be rerun; for ``GET /jobs/{cluster_id}/{job_id}`` and
``ehpc-rerun history``.

``next_rerun_possible_at`` is now when nothing blocks a rerun; otherwise the later of the end of the
dedupe window after the last rerun, and, when the budget is used up, the moment enough reruns have left
the budget window (the store counts a rerun while ``at > now - window``). It is computed from the
history document, which mirrors the store's own claim history (the authoritative count) for people: a
claim in progress right now, or a rerun whose history write failed, is not in it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ehpc_rerun.errors import StateStoreUnavailable
from ehpc_rerun.settings import Settings
from ehpc_rerun.sinks.log import emit, utc_now_iso
from ehpc_rerun.sources.base import HistoryQuery
from ehpc_rerun.state.base import StateStore

from . import job_history

NOTE = (
    "a record for people of what the function did to this job in the budget window; the state store's "
    "own claim history decides dedupe and budget"
)


def iso(ms: int) -> str:
    """UTC, with milliseconds, as the outcome lines' ``time``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def read(
    store: StateStore, region: str, cluster_id: str, job_id: str, settings: Settings, now_ms: int
) -> dict[str, Any]:
    """The job's reruns and escalations within the budget window, its budget and next possible rerun."""
    key = job_history.doc_key(job_history.job_key(region, cluster_id, job_id))
    doc = store.read_docs([key], now_ms=now_ms).get(key)
    parsed = job_history.parse(doc.value) if doc is not None else {}
    window_ms = settings.budget_window_s * 1000
    cutoff = now_ms - window_ms
    reruns = [e for e in parsed.get("reruns", []) if _at(e) > cutoff]
    escalations = [e for e in parsed.get("escalations", []) if _at(e) > cutoff]
    reruns.sort(key=_at)
    escalations.sort(key=_at)
    used = len(reruns)
    budget = settings.budget_max_reruns
    blocked: dict[str, int] = {}
    if reruns:
        dedupe_end = _at(reruns[-1]) + settings.dedupe_window_s * 1000
        if dedupe_end > now_ms:
            blocked["dedupe_window"] = dedupe_end
    if used >= budget:
        # the rerun that must leave the window for the count to drop below the budget
        blocked["budget"] = _at(reruns[used - budget]) + window_ms
    return {
        "cluster_id": cluster_id,
        "job_id": job_id,
        "region": region,
        "as_of": iso(now_ms),
        "reruns": [_shown(e) for e in reruns],
        "escalations": [_shown(e) for e in escalations],
        "budget": {
            "max": budget,
            "used": used,
            "left": max(budget - used, 0),
            "window_s": settings.budget_window_s,
        },
        "next_rerun_possible_at": iso(max([now_ms, *blocked.values()])),
        "blocked_by": sorted(blocked, key=lambda name: blocked[name]),
        "dedupe_window_s": settings.dedupe_window_s,
        "note": NOTE,
    }


def _at(entry: dict[str, Any]) -> int:
    at = entry.get("at")
    return at if isinstance(at, int) else 0


def _shown(entry: dict[str, Any]) -> dict[str, Any]:
    shown = {"time": iso(_at(entry))}
    shown.update({name: value for name, value in entry.items() if name != "at"})
    return shown


def answer_http(
    query: HistoryQuery,
    settings: Settings,
    store: Callable[[], StateStore],
    *,
    now_ms: int,
    invocation_id: str,
    default_region: str,
    replay_key: str | None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, JSON body and headers for ``GET /jobs/{cluster_id}/{job_id}`` (already authenticated).

    A signed request (anonymous mode) is first claimed once in the store, as a POST is; a second use is
    401 ``ReplayedRequest``. The store failing is 503 ``StateStoreUnavailable`` with ``Retry-After``."""
    try:
        opened = store()
        if replay_key is not None and not _first_use(opened, replay_key, settings, invocation_id, now_ms):
            message = "this signed request was already received; sign every request anew"
            return 401, {"error": {"code": "ReplayedRequest", "message": message}}, {}
        body = read(opened, query.region or default_region, query.cluster_id, query.job_id, settings, now_ms)
    except StateStoreUnavailable as exc:
        emit(
            {
                "type": "ehpc_rerun.error",
                "time": utc_now_iso(),
                "invocation_id": invocation_id,
                "error_code": exc.code,
                "message": f"the rerun history of {query.cluster_id}/{query.job_id} could not be read: "
                f"{exc.message}",
            }
        )
        return 503, {"error": {"code": exc.code, "message": exc.message}}, {"Retry-After": "30"}
    return 200, body, {}


def _first_use(store: StateStore, replay_key: str, settings: Settings, owner: str, now_ms: int) -> bool:
    # The same claim as app._check_replay makes for a signed POST: a signature is accepted once.
    result = store.claim(
        [replay_key],
        owner=owner,
        detail="http",
        lease_ms=settings.http_max_skew_s * 2000,
        budget_window_ms=1,
        now_ms=now_ms,
    )
    return result[0].acquired


RERUN_COLUMNS = ("time", "status", "source", "source_id", "invocation_id", "ehpc_request_id", "confirmed_by")
ESCALATION_COLUMNS = ("time", "status", "error_code", "source", "invocation_id", "message")


def render_table(answer: dict[str, Any]) -> str:
    """The answer as text for a terminal (``ehpc-rerun history``)."""
    budget = answer["budget"]
    blocked = answer["blocked_by"]
    why = f" (blocked by {', '.join(blocked)})" if blocked else " (now: nothing blocks it)"
    lines = [
        f"{answer['cluster_id']}/{answer['job_id']} in {answer['region']}, as of {answer['as_of']}",
        f"budget: {budget['used']} of {budget['max']} reruns used in the last {budget['window_s']} s, "
        f"{budget['left']} left; dedupe window {answer['dedupe_window_s']} s",
        f"next rerun possible at {answer['next_rerun_possible_at']}{why}",
        "",
        f"reruns ({len(answer['reruns'])})",
        *_columns(answer["reruns"], RERUN_COLUMNS),
        "",
        f"escalations ({len(answer['escalations'])})",
        *_columns(answer["escalations"], ESCALATION_COLUMNS),
    ]
    return "\n".join(lines)


def _columns(rows: list[dict[str, Any]], names: tuple[str, ...]) -> list[str]:
    # A dozen lines of padding: not worth a table library in the package.
    if not rows:
        return ["  (none)"]
    cells = [[("-" if row.get(name) is None else str(row[name])) for name in names] for row in rows]
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(names)]
    shown = [list(names), *cells]
    return [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in shown
    ]
