"""Local E-HPC (API 2018-04-12) simulator: a real HTTP server on 127.0.0.1 for the real SDK.

Actions: RerunJobs, ListJobs, ListNodes (simulator/nodes.py), DescribeJob.

Order for every request: latency sleep, V3 signature (:mod:`.signature`), nonce replay check,
action and version (from the ``x-acs-action`` / ``x-acs-version`` headers only), the fault plan
of that action (:mod:`.faults`), then the action itself (:mod:`.actions`). Every request is
recorded, rejected ones included.

Error answers (JSON ``{"RequestId","HostId","Code","Message","Recommend"}``):

=====  ============================================  =============================================
HTTP   Code                                          When
=====  ============================================  =============================================
400    IncompleteSignature                           no/malformed Authorization, required header
                                                     missing or not in SignedHeaders
400    InvalidSignatureMethod                        algorithm other than ACS3-HMAC-SHA256
404    InvalidAccessKeyId.NotFound                   unknown access key id
400    InvalidTimeStamp.Format / .Expired            bad x-acs-date / more than 15 min off
400    SignatureDoesNotMatch                         signature or x-acs-content-sha256 mismatch
400    MissingSecurityToken                          key has an STS token but none was sent
400    InvalidSecurityToken.MismatchWithAccessKey    token (or x-acs-accesskey-id) differs
400    SignatureNonceUsed                            x-acs-signature-nonce seen before
400    Throttling.User                               over a quota set with ``set_quota`` (flow control)
404    InvalidAction.NotFound                        unknown/missing action, or path is not ``/``
400    NoSuchVersion                                 version other than 2018-04-12
400    Missing<Param>                                required parameter absent
400    InvalidParams                                 bad Jobs/Async/State/PageSize/Role/Filter/...,
                                                     unknown JobId
404    ClusterNotFound                               unknown ClusterId
403    InvalidClusterStatus                          RerunJobs on a cluster not "running"
406    AgentError.Job.RerunFailure                   a job is unknown or not RUNNING/QUEUED
                                                     (whole call rejected, nothing applied)
=====  ============================================  =============================================
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .actions import CallContext, SimActions
from .apierror import ApiError
from .calls import RecordedCall
from .signature import verify

log = logging.getLogger(__name__)
API_VERSION = "2018-04-12"
LOOPBACK = "127.0.0.1"
JSON_CONTENT_TYPE = "application/json;charset=utf-8"
_DEFAULT_MESSAGES = {
    "Throttling": "Request was denied due to request throttling.",
    "Throttling.User": "Request was denied due to user flow control.",
    "Throttling.Api": "Request was denied due to api flow control.",
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
    "InternalError": "The request processing has failed due to some unknown error.",
    "UnknownError": "The request processing has failed due to some unknown error.",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    sim: Simulator


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "EHPCSimulator/1.0"

    def do_GET(self) -> None:
        self.server.sim._handle(self)

    def do_POST(self) -> None:
        self.server.sim._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class Simulator(SimActions):
    """The E-HPC simulator: the control API of :class:`SimState`, the actions and the HTTP server.

    ``access_keys`` maps AK id to secret; ``security_tokens`` maps AK id to the STS token it
    must present. Binds 127.0.0.1 only; ``port=0`` picks a free port.
    """

    def __init__(
        self,
        access_keys: dict[str, str] | None = None,
        security_tokens: dict[str, str] | None = None,
        latency: float = 0.0,
        *,
        port: int = 0,
        bind_address: str = LOOPBACK,
    ) -> None:
        if not bind_address.startswith("127."):
            raise ValueError(f"the simulator binds loopback (127.x.x.x) addresses only, not {bind_address!r}")
        self.bind_address = bind_address
        self.access_keys = dict(access_keys or {"test-ak-id": "test-secret-not-real"})
        self.security_tokens = dict(security_tokens or {})
        self.latency = latency
        super().__init__()
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.bind_address, self._requested_port), _Handler)
        server.sim = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="ehpc-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_latency(self, seconds: float) -> None:
        """Delay every later call by ``seconds`` (in its own handler thread)."""
        self.latency = seconds

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator is not running")
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"{self.bind_address}:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}"

    # ---- the HTTP side ------------------------------------------------------------------
    def _handle(self, h: _Handler) -> None:
        started = time.time()
        h.close_connection = True
        url = urlsplit(h.path)
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length > 0 else b""
        query_pairs = parse_qsl(url.query, keep_blank_values=True)
        params = dict(query_pairs)
        if h.command == "POST" and "x-www-form-urlencoded" in (h.headers.get("content-type") or ""):
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        action = (h.headers.get("x-acs-action") or "").strip()
        call = CallContext(
            h, action, (h.headers.get("x-acs-version") or "").strip(), params, started, url.query
        )
        if self.latency > 0 and self._stopping.wait(self.latency):
            return
        call.verified = vr = verify(
            h.command,
            unquote(url.path),
            query_pairs,
            h.headers.items(),
            body,
            self.access_keys.get,
            token_lookup=self.security_tokens.get,
            now=time.time(),
        )
        try:
            if not vr.ok:
                raise ApiError(vr.status, vr.code or "SignatureDoesNotMatch", vr.message or "")
            if not self.use_nonce(vr.nonce or "", time.time()):
                raise ApiError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
            if url.path != "/" or action not in self._actions:
                raise ApiError(404, "InvalidAction.NotFound", "Specified api is not found.")
            if call.version != API_VERSION:
                raise ApiError(400, "NoSuchVersion", f"Specified version {call.version!r} is not found.")
            if self.over_quota(action, time.time()):
                raise ApiError(400, "Throttling.User", _DEFAULT_MESSAGES["Throttling.User"])
            call.fault = fault = self.next_fault(action)
            if fault is not None and fault.kind in ("fail", "throttle"):
                fcode = fault.code or "InternalError"
                raise ApiError(fault.status, fcode, fault.message or _DEFAULT_MESSAGES.get(fcode, fcode))
            if (
                fault is not None
                and not fault.after_apply
                and (fault.kind == "drop" or self._stopping.wait(fault.seconds))
            ):
                self._record(call, 0, None, {})  # dropped (or stopped) before anything happened
                return
            status, code, payload = 200, None, {"RequestId": call.request_id, **self._actions[action](call)}
        except ApiError as err:
            status, code, payload = err.status, err.code, self._error_body(call, err)
        fault = call.fault
        if fault is not None and fault.kind == "drop":  # after_apply: it happened, the client never hears
            self._record(call, 0, None, payload)
            return
        self._record(call, status, code, payload)
        if (
            fault is not None
            and fault.kind == "hang"
            and fault.after_apply
            and self._stopping.wait(fault.seconds)
        ):
            return
        self._respond(call, status, payload)

    def _error_body(self, call: CallContext, err: ApiError) -> dict[str, Any]:
        rid = call.request_id
        return {
            "RequestId": rid,
            "HostId": call.handler.headers.get("host") or "ehpc.cn-hangzhou.aliyuncs.com",
            "Code": err.code,
            "Message": err.message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={err.code}&product=EHPC&requestId={rid}",
        }

    def _respond(self, call: CallContext, status: int, payload: dict[str, Any]) -> None:
        h, data = call.handler, json.dumps(payload, ensure_ascii=False).encode("utf-8")
        retry_after = call.fault.retry_after if call.fault is not None and status >= 400 else None
        try:
            h.send_response(status)
            h.send_header("Content-Type", JSON_CONTENT_TYPE)
            h.send_header("Content-Length", str(len(data)))
            h.send_header("x-acs-request-id", call.request_id)
            if retry_after is not None:
                h.send_header("x-acs-retry-after", str(retry_after))
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(data)
        except OSError as exc:  # the client gave up (e.g. read timeout during a hang)
            log.debug("client went away before the answer: %s", exc)

    def _record(self, call: CallContext, status: int, code: str | None, payload: dict[str, Any]) -> None:
        headers: dict[str, str] = {}
        for name, value in call.handler.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        vr = call.verified
        self._record_call(
            RecordedCall(
                action=call.action,
                version=call.version,
                method=call.handler.command,
                query=dict(call.params),
                headers=headers,
                status=status,
                code=code,
                response=payload,
                signature_valid=vr.signature_valid,
                access_key_id=vr.access_key_id,
                security_token=vr.security_token,
                cluster_id=call.cluster_id,
                job_ids=list(call.job_ids),
                async_=call.async_,
                applied=call.applied,
                started_at=call.started_at,
                thread=threading.current_thread().name,
                fault=call.fault.kind if call.fault is not None else None,
                request_id=call.request_id,
                raw_query=call.raw_query,
            )
        )
