"""GET routes of the HTTP trigger: which paths answer, decided before any pipeline step.

FC 3.0 passes the path the caller used: ``rawPath`` (URL-encoded) and ``requestContext.http.path``
(decoded), fc-events.md §2.1. The function may be reached on the trigger's own domain (``/health``),
behind a custom-domain route that keeps a prefix (``/ehpc/health``) or through the invoke API, whose path
is ``/2023-03-30/functions/<name>/invocations`` (Serverless Devs devsapp/fc3
``src/subCommands/trigger-template/event-template/http.json``). So a route matches the *end* of the
path, whole segments only: ``/health`` and ``/x/health/`` answer, ``/healthz`` and ``/`` are 404.

Routes:

* ``GET /health``: open in every auth mode, answered here.
* ``GET /jobs/{cluster_id}/{job_id}`` (``?region=`` optional): why and when a job was rerun. It is
  authenticated like a POST (:attr:`Route.signed`; in anonymous mode a signature for this method, this
  path and the empty body), validated here (400 with the field errors), and becomes a
  :class:`~.base.HistoryQuery` that the handler answers from the state store.

Adding a route is one more :class:`Route` in :data:`GET_ROUTES`; its named groups and the query
parameters reach ``answer``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ehpc_rerun import __version__
from ehpc_rerun.models import ClusterId, JobId, Region

from .base import HistoryQuery, HttpReply

Answer = HttpReply | HistoryQuery


@dataclass(frozen=True)
class Route:
    shown: str  # how the README and the 404 message name it
    pattern: re.Pattern[str]  # searched in the path without its trailing slashes
    answer: Callable[[dict[str, str], dict[str, str]], Answer]  # named groups, query parameters
    signed: bool = False  # authenticated like a POST (anonymous mode: signed GET + path + empty body)


def _health(_: dict[str, str], __: dict[str, str]) -> HttpReply:
    return HttpReply(200, {"status": "ok", "service": "ehpc-rerun", "version": __version__})


_FIELDS: dict[str, TypeAdapter[Any]] = {
    "cluster_id": TypeAdapter(ClusterId),
    "job_id": TypeAdapter(JobId),
    "region": TypeAdapter(Region),
}


def history_query(groups: dict[str, str], query: dict[str, str]) -> Answer:
    """A validated :class:`~.base.HistoryQuery`, or the 400 reply listing each invalid field."""
    values = {"cluster_id": groups["cluster_id"], "job_id": groups["job_id"]}
    if query.get("region"):
        values["region"] = query["region"]
    problems = []
    for name, value in values.items():
        try:
            _FIELDS[name].validate_python(value)
        except ValidationError as exc:
            problems.append({"field": name, "problem": exc.errors()[0]["msg"]})
    if problems:
        names = ", ".join(p["field"] for p in problems)
        message = (
            f"GET /jobs/{{cluster_id}}/{{job_id}}: invalid {names} (a cluster id looks like "
            "ehpc-hz-XXXXXXXX; a job id is the scheduler's, e.g. 1.scheduler; ?region= is a region id "
            "such as cn-hangzhou)"
        )
        return HttpReply(400, {"error": {"code": "InvalidRequest", "message": message, "fields": problems}})
    return HistoryQuery(values["cluster_id"], values["job_id"], values.get("region"))


GET_ROUTES: tuple[Route, ...] = (
    Route("/health", re.compile(r"(?:^|/)health$"), _health),
    Route(
        "/jobs/{cluster_id}/{job_id}",
        re.compile(r"(?:^|/)jobs/(?P<cluster_id>[^/]+)/(?P<job_id>[^/]+)$"),
        history_query,
        signed=True,
    ),
)


def not_found(method: str) -> HttpReply:
    shown = [route.shown for route in GET_ROUTES]
    served = " and ".join([", ".join(shown[:-1]), shown[-1]]) if len(shown) > 1 else shown[0]
    message = f"{method} serves only {served}; send rerun requests with POST"
    return HttpReply(404, {"error": {"code": "NotFound", "message": message}})


def find(path: str) -> tuple[Route, dict[str, str]] | None:
    """The route ``path`` ends with, and its named groups; None when no route matches."""
    trimmed = path.rstrip("/")
    for route in GET_ROUTES:
        match = route.pattern.search(trimmed)
        if match is not None:
            return route, match.groupdict()
    return None


def route_get(path: str, method: str = "GET", query: dict[str, str] | None = None) -> Answer:
    """The answer to a GET (or HEAD) on ``path`` once authenticated: a reply, or a query for the store."""
    found = find(path)
    if found is None:
        return not_found(method)
    route, groups = found
    return route.answer(groups, query or {})
