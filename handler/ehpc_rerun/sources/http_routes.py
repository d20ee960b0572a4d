"""GET routes of the HTTP trigger: which paths answer, decided before any pipeline step.

FC 3.0 passes the path the caller used: ``rawPath`` (URL-encoded) and ``requestContext.http.path``
(decoded), fc-events.md §2.1. The function may be reached on the trigger's own domain (``/health``),
behind a custom-domain route that keeps a prefix (``/ehpc/health``) or through the invoke API, whose path
is ``/2023-03-30/functions/<name>/invocations`` (Serverless Devs devsapp/fc3
``src/subCommands/trigger-template/event-template/http.json``). So a route matches the *end* of the
path, whole segments only: ``/health`` and ``/x/health/`` answer, ``/healthz`` and ``/`` are 404.

Adding a route is one more :class:`Route` in :data:`GET_ROUTES` (e.g. ``GET /jobs/{cluster_id}/{job_id}``:
``(?:^|/)jobs/(?P<cluster_id>[^/]+)/(?P<job_id>[^/]+)$``); its named groups reach ``answer``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ehpc_rerun import __version__

from .base import HttpReply


@dataclass(frozen=True)
class Route:
    shown: str  # how the README and the 404 message name it
    pattern: re.Pattern[str]  # searched in the path without its trailing slashes
    answer: Callable[[dict[str, str]], HttpReply]  # gets the pattern's named groups


def _health(_: dict[str, str]) -> HttpReply:
    return HttpReply(200, {"status": "ok", "service": "ehpc-rerun", "version": __version__})


GET_ROUTES: tuple[Route, ...] = (Route("/health", re.compile(r"(?:^|/)health$"), _health),)


def not_found(method: str) -> HttpReply:
    served = ", ".join(route.shown for route in GET_ROUTES)
    message = f"{method} serves only {served}; send rerun requests with POST"
    return HttpReply(404, {"error": {"code": "NotFound", "message": message}})


def route_get(path: str, method: str = "GET") -> HttpReply:
    """The reply to a GET (or HEAD) on ``path``: a route's answer, else 404 with the JSON error."""
    trimmed = path.rstrip("/")
    for route in GET_ROUTES:
        match = route.pattern.search(trimmed)
        if match is not None:
            return route.answer(match.groupdict())
    return not_found(method)
