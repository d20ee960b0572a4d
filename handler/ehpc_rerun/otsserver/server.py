"""``TablestoreServer``: a local Tablestore endpoint on 127.0.0.1 for the official SDK (a dev/test tool).

Order for every request: count the action in ``calls``; POST only (405 OTSMethodNotAllowed); the request
checks of :mod:`.auth` (headers, date skew, access key id, instance, STS token, body MD5, signature); the
action (400 OTSParameterInvalid "Unsupported operation" for any action not implemented here); the handler
of :mod:`.actions`. Answers are protobuf bodies, signed as the SDK verifies them; errors are the protobuf
``Error``. OTSAuthFailed answers are not signed (the SDK does not check them, and the key may be the thing
that failed).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import socket
import threading
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast

from .actions import HANDLERS
from .auth import ServerCredentials, response_headers, verify_request
from .errors import OTSError, internal_error, method_not_allowed, unsupported_operation
from .tables import Store, Table

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"
MAX_BODY = 64 * 1024 * 1024  # the PlainBuffer maximum buffer size of the SDK


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive SDK connections must not block stop()
    request_queue_size = 128  # the default 5 drops SYNs when many clients connect at once (1 s resend)

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def close_connections(self) -> None:
        """End open keep-alive connections, so a stopped server really stops answering."""
        with self.connections_lock:
            open_now, self.connections = self.connections, set()
        for connection in open_now:
            with contextlib.suppress(OSError):  # already closed by the client: nothing left to end
                connection.shutdown(socket.SHUT_RDWR)


class TablestoreServer:
    """A threaded HTTP server speaking the Tablestore wire protocol, with in-memory tables.

    ``url`` is the ``EHPC_RERUN_STATE`` value for the first table, ``endpoint`` the SDK endpoint, ``calls`` a
    ``Counter`` of the actions received (rejected requests included), and ``store`` the tables themselves.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        access_key_id: str,
        access_key_secret: str,
        security_token: str | None = None,
        instance: str = "ehpc-rerun",
        tables: Iterable[str] = ("ehpc_rerun_state",),
        region: str | None = None,
    ) -> None:
        if not access_key_id or not access_key_secret:
            raise ValueError("TablestoreServer needs access_key_id and access_key_secret")
        self.credentials = ServerCredentials(
            access_key_id, access_key_secret, security_token, instance, region
        )
        self.instance = instance
        self.store = Store()
        self.table_names = list(tables)
        for name in self.table_names:
            self.store.create_table(name)
        self.calls: collections.Counter[str] = collections.Counter()
        self._calls_lock = threading.Lock()
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> TablestoreServer:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((LOOPBACK, self._port), _make_handler(self))
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="tablestore-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> TablestoreServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("TablestoreServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        table = self.table_names[0] if self.table_names else "ehpc_rerun_state"
        return f"tablestore+http://{LOOPBACK}:{self.port}/{self.instance}/{table}"

    # -- tables, for tests -----------------------------------------------------------------------------------
    def create_table(self, name: str, primary_key: Iterable[tuple[str, str]] = (("key", "STRING"),)) -> Table:
        return self.store.create_table(name, primary_key)

    def drop_table(self, name: str) -> None:
        self.store.drop_table(name)

    def rows(self, table: str | None = None) -> dict[tuple[Any, ...], dict[str, Any]]:
        """A snapshot ``{primary key tuple: {column: value}}`` of one table (default: the first)."""
        with self.store.lock:
            stored = self.store.table(table or self.table_names[0]).rows
            return {key: {name: value for name, (value, _) in cells.items()} for key, cells in stored.items()}

    def reset_calls(self) -> None:
        with self._calls_lock:
            self.calls.clear()

    # -- one request -----------------------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Serve one request; return status, headers and body (usable without HTTP, e.g. from a test)."""
        action = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        with self._calls_lock:
            self.calls[action or "/"] += 1
        request_id = uuid.uuid4().hex
        key: bytes | None = None
        try:
            if method != "POST":
                raise method_not_allowed()
            key = verify_request(path, headers, body, self.credentials)
            handler = HANDLERS.get(action)
            if handler is None:
                raise unsupported_operation(action, tuple(HANDLERS))
            status, answer = 200, bytes(handler(self.store, body).SerializeToString())
        except OTSError as error:
            status, answer = error.status, error.body()
            if error.code == "OTSAuthFailed":
                key = None
        except Exception:
            log.exception("tablestore server: %s failed (request id %s)", action, request_id)
            failure = internal_error()
            status, answer = failure.status, failure.body()
        return status, response_headers(path, answer, request_id, self.credentials.access_key_id, key), answer


def _make_handler(server: TablestoreServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in two writes: without TCP_NODELAY the body waits for the client's
        # delayed ACK (~40 ms a round trip), a cost no real Tablestore endpoint has
        disable_nagle_algorithm = True
        server_version = "ehpc-rerun-tablestore/1"

        def setup(self) -> None:
            super().setup()
            httpd = cast(_HTTPServer, self.server)
            with httpd.connections_lock:
                httpd.connections.add(self.connection)

        def finish(self) -> None:
            httpd = cast(_HTTPServer, self.server)
            with httpd.connections_lock:
                httpd.connections.discard(self.connection)
            super().finish()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 <= length <= MAX_BODY:
                self.send_error(413, "The size of POST data is too large.")
                return
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, out_headers, answer = server.handle(self.command, self.path, headers, body)
            self.send_response(status)
            for name, value in out_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_POST = do_GET = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("tablestore server: " + format, *args)

    return Handler
