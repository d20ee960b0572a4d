"""The base of the sink fakes: a real ThreadingHTTPServer on 127.0.0.1 that records every request
(:class:`Received`, with the verdict it gave) and can be scripted to fail the next N requests with
a 5xx, answer an error body, or hang for T seconds. Subclasses say how to answer."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

Answer = tuple[int, dict[str, str], bytes]
_F = TypeVar("_F", bound="FakeServer")


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    verdict: str = "ok"  # "ok", or the error code the fake answered
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Action:
    kind: str  # "fail" | "hang" | "error" | fake-specific
    status: int = 500
    seconds: float = 0.0
    code: str = ""
    message: str = ""


class FakeServer:
    """A ThreadingHTTPServer on 127.0.0.1 with scripted misbehaviour; use as a context manager."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._script: deque[Action] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    # --- lifecycle ---------------------------------------------------------------------------
    def __enter__(self: _F) -> _F:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- scripting ---------------------------------------------------------------------------
    def _push(self, n: int, action: Action) -> None:
        with self._lock:
            self._script.extend(action for _ in range(n))

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        self._push(n, Action("fail", status=status))

    def hang_next(self, n: int = 1, seconds: float = 5.0) -> None:
        self._push(n, Action("hang", seconds=seconds))

    def error_next(self, n: int = 1, *, code: str, message: str = "", status: int = 400) -> None:
        self._push(n, Action("error", status=status, code=code, message=message))

    # --- serving -----------------------------------------------------------------------------
    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length)
        url = urlsplit(h.path)
        got = Received(
            method=h.command,
            path=unquote(url.path),
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in h.headers.items()},
            body=body,
        )
        got.extra["raw_query"] = url.query
        got.extra["header_items"] = list(h.headers.items())
        with self._lock:
            self.received.append(got)
            action = self._script.popleft() if self._script else None
        if action is not None and action.kind == "hang":
            got.verdict = "hung"
            if self._release.wait(action.seconds):
                return
        if action is not None and action.kind == "fail":
            got.verdict = f"HTTP{action.status}"
            answer = self.internal_error(action.status)
        elif action is not None and action.kind not in ("hang",):
            got.verdict = action.code
            answer = self.error_answer(action)
        else:
            answer = self.answer(got)
        status, headers, payload = answer
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        except OSError:  # the client gave up (timeout)
            pass

    def answer(self, got: Received) -> Answer:
        raise NotImplementedError

    def internal_error(self, status: int) -> Answer:
        return status, {"Content-Type": "text/plain"}, b"internal error"

    def error_answer(self, action: Action) -> Answer:
        raise NotImplementedError

    @property
    def ok(self) -> list[Received]:
        return [r for r in self.received if r.verdict == "ok"]
