"""Real HTTP fakes on 127.0.0.1 for the sinks, each verifying what the real service would verify.

* :class:`FakeMns` -- ``PublishMessage``: recomputes the ``MNS ak:signature`` with the known test
  secret, checks Content-MD5 (base64 of the hex md5), the XML namespace, ``x-mns-version``, the
  ``security-token`` header and the Date skew; answers 201 XML or the MNS error XML.
* :class:`FakeEventBridge` -- OpenAPI ``PutEvents``: verifies the ACS3-HMAC-SHA256 signature with
  :func:`ehpc_rerun.simulator.signature.verify` (STS token, nonce reuse, date window); answers the
  PutEvents JSON (optionally with failed entries) or the OpenAPI error JSON.
* :class:`FakeDingTalk` -- custom robot: checks the access token, timestamp skew and ``sign``, and
  the markdown JSON body; answers ``{"errcode", "errmsg"}`` with HTTP 200 like DingTalk.

Every fake records what it really received (:class:`Received`, with the ``verdict`` it gave) and
can be told to fail the next N requests with 500, answer an error body, or hang for T seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from ehpc_rerun.simulator.signature import verify

from .fake_server import Action, Answer, FakeServer, Received

MNS_NS = "http://mns.aliyuncs.com/doc/v1/"
AK = "AKtest-not-real"
SECRET = "test-secret-not-real"
TOKEN = "STStoken-not-real"
DING_TOKEN = "ding-token-not-real"
DING_SECRET = "SECtest-not-real"


# --- MNS ------------------------------------------------------------------------------------------


def mns_error_xml(code: str, message: str, request_id: str = "fake-request-id") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error xmlns="{MNS_NS}"><Code>{code}</Code>'
        f"<Message>{message}</Message><RequestId>{request_id}</RequestId>"
        "<HostId>http://127.0.0.1</HostId></Error>"
    ).encode()


class FakeMns(FakeServer):
    def __init__(
        self,
        topic: str = "ehpc-reports",
        secrets: dict[str, str] | None = None,
        tokens: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.topic = topic
        self.secrets = secrets if secrets is not None else {AK: SECRET}
        self.tokens = tokens if tokens is not None else {AK: TOKEN}

    def _error(self, got: Received, status: int, code: str, message: str) -> Answer:
        got.verdict = code
        return status, {"Content-Type": "text/xml;charset=utf-8"}, mns_error_xml(code, message)

    def internal_error(self, status: int) -> Answer:
        return status, {"Content-Type": "text/xml;charset=utf-8"}, mns_error_xml("InternalError", "fake 500")

    def error_answer(self, action: Action) -> Answer:
        xml = mns_error_xml(action.code, action.message)
        return action.status, {"Content-Type": "text/xml;charset=utf-8"}, xml

    def answer(self, got: Received) -> Answer:
        h = got.headers
        if got.method != "POST" or got.path != f"/topics/{self.topic}/messages":
            return self._error(got, 404, "TopicNotExist", "The topic you provided does not exist.")
        if h.get("x-mns-version") != "2015-06-06":
            return self._error(got, 400, "MissingVersionHeader", "x-mns-version must be 2015-06-06")
        if "date" not in h:
            return self._error(got, 400, "MissingDateHeader", "Date is required")
        if abs(parsedate_to_datetime(h["date"]).timestamp() - time.time()) > 900:
            return self._error(got, 400, "TimeExpired", "Date is more than 15 minutes away")
        expected_md5 = base64.b64encode(hashlib.md5(got.body).hexdigest().encode()).decode()
        if h.get("content-md5") != expected_md5:
            return self._error(got, 400, "InvalidDegist", "Content-MD5 does not match the body")
        scheme, _, cred = h.get("authorization", "").partition(" ")
        ak, _, sig = cred.partition(":")
        if scheme != "MNS" or ak not in self.secrets:
            return self._error(got, 403, "InvalidAccessKeyId", "unknown access key")
        mns_headers = "".join(f"{k}:{v}\n" for k, v in sorted(h.items()) if k.startswith("x-mns-"))
        to_sign = (
            f"POST\n{h['content-md5']}\n{h.get('content-type', '')}\n{h['date']}\n{mns_headers}{got.path}"
        )
        want = base64.b64encode(hmac.new(self.secrets[ak].encode(), to_sign.encode(), hashlib.sha1).digest())
        if not hmac.compare_digest(want.decode(), sig):
            return self._error(got, 403, "SignatureDoesNotMatch", "signature mismatch")
        if self.tokens.get(ak) is not None and h.get("security-token") != self.tokens[ak]:
            return self._error(got, 403, "AccessDenied", "security token missing or wrong")
        try:
            root = ElementTree.fromstring(got.body)
        except ElementTree.ParseError:
            return self._error(got, 400, "MalformedXML", "not XML")
        if root.tag != f"{{{MNS_NS}}}Message":
            return self._error(got, 400, "MalformedXML", "root must be Message in the MNS namespace")
        body_node = root.find(f"{{{MNS_NS}}}MessageBody")
        tag_node = root.find(f"{{{MNS_NS}}}MessageTag")
        if body_node is None or not body_node.text:
            return self._error(got, 400, "InvalidArgument", "MessageBody is required")
        if len(body_node.text.encode()) > 65536:
            return self._error(got, 400, "InvalidArgument", "message larger than 64 KB")
        tag = tag_node.text if tag_node is not None else None
        if tag is not None and len(tag) > 16:
            return self._error(got, 400, "InvalidArgument", "MessageTag longer than 16 characters")
        got.extra.update(message_body=body_node.text, tag=tag)
        message_id = uuid.uuid4().hex.upper()
        body_md5 = hashlib.md5(body_node.text.encode()).hexdigest().upper()
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="{MNS_NS}">'
            f"<MessageId>{message_id}</MessageId><MessageBodyMD5>{body_md5}</MessageBodyMD5></Message>"
        ).encode()
        got.extra["message_id"] = message_id
        return 201, {"Content-Type": "text/xml;charset=utf-8", "x-mns-request-id": "fake-req"}, xml


# --- EventBridge ----------------------------------------------------------------------------------


class FakeEventBridge(FakeServer):
    def __init__(
        self,
        bus: str = "ehpc-bus",
        secrets: dict[str, str] | None = None,
        tokens: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.bus = bus
        self.secrets = secrets if secrets is not None else {AK: SECRET}
        self.tokens = tokens if tokens is not None else {AK: TOKEN}
        self._nonces: set[str] = set()

    def fail_entries_next(self, n: int = 1, *, code: str, message: str = "") -> None:
        self._push(n, Action("entries", status=200, code=code, message=message))

    @staticmethod
    def _json(status: int, payload: dict[str, Any]) -> Answer:
        return status, {"Content-Type": "application/json;charset=utf-8"}, json.dumps(payload).encode()

    def _error(self, got: Received | None, status: int, code: str, message: str) -> Answer:
        if got is not None:
            got.verdict = code
        return self._json(
            status, {"RequestId": "fake-req", "HostId": "127.0.0.1", "Code": code, "Message": message}
        )

    def internal_error(self, status: int) -> Answer:
        return self._error(None, status, "InternalError", "fake 500")

    def error_answer(self, action: Action) -> Answer:
        if action.kind == "entries":
            entry = {"EventId": "", "TraceId": "t", "ErrorCode": action.code, "ErrorMessage": action.message}
            data = {"FailedEntryCount": 1, "EntryList": [entry]}
            return self._json(
                200, {"RequestId": "fake-req", "Code": "Success", "Success": True, "Data": data}
            )
        return self._error(None, action.status, action.code, action.message)

    def answer(self, got: Received) -> Answer:
        result = verify(
            got.method,
            got.path,
            parse_qsl(got.extra["raw_query"], keep_blank_values=True),
            got.extra["header_items"],
            got.body,
            self.secrets.get,
            token_lookup=self.tokens.get,
            now=time.time(),
        )
        if not result.ok:
            return self._error(
                got, result.status, result.code or "SignatureDoesNotMatch", result.message or ""
            )
        if result.nonce in self._nonces:
            return self._error(got, 400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self._nonces.add(result.nonce or "")
        h = got.headers
        if (h.get("x-acs-action"), h.get("x-acs-version")) != ("PutEvents", "2020-04-01") or got.path != "/":
            return self._error(got, 404, "InvalidAction.NotFound", "Specified api is not found")
        form = dict(parse_qsl(got.body.decode(), keep_blank_values=True))
        if form.get("EventBusName") != self.bus:
            return self._error(
                got, 404, "EventBusNotExist", f"The event bus {form.get('EventBusName')} does not exist."
            )
        events = json.loads(form.get("EventList") or "[]")
        missing = [k for k in ("Id", "Source", "Type") for e in events if not e.get(k)]
        if not events or missing:
            return self._error(got, 400, "InvalidArgument", f"missing {missing or 'events'}")
        got.extra.update(bus=form["EventBusName"], events=events)
        entries = [{"EventId": e["Id"], "TraceId": uuid.uuid4().hex} for e in events]
        data = {"FailedEntryCount": 0, "EntryList": entries}
        return self._json(
            200,
            {"RequestId": "fake-req", "Code": "Success", "Message": "success", "Success": True, "Data": data},
        )


# --- DingTalk -------------------------------------------------------------------------------------


class FakeDingTalk(FakeServer):
    def __init__(self, access_token: str = DING_TOKEN, secret: str | None = DING_SECRET) -> None:
        super().__init__()
        self.access_token = access_token
        self.secret = secret

    @property
    def webhook(self) -> str:
        return f"{self.url}/robot/send?access_token={self.access_token}"

    @staticmethod
    def _reply(errcode: int, errmsg: str) -> Answer:
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps({"errcode": errcode, "errmsg": errmsg}).encode(),
        )

    def _error(self, got: Received, errcode: int, errmsg: str) -> Answer:
        got.verdict = str(errcode)
        return self._reply(errcode, errmsg)

    def error_answer(self, action: Action) -> Answer:
        return self._reply(int(action.code), action.message)

    def answer(self, got: Received) -> Answer:
        if got.path != "/robot/send" or got.query.get("access_token") != self.access_token:
            return self._error(got, 300001, "token is not exist")
        if self.secret is not None:
            timestamp, signed = got.query.get("timestamp", ""), got.query.get("sign", "")
            if not timestamp.isdigit() or abs(int(timestamp) - time.time() * 1000) > 3_600_000:
                return self._error(got, 310000, "sign not match, timestamp is more than 1 hour away")
            digest = hmac.new(
                self.secret.encode(), f"{timestamp}\n{self.secret}".encode(), hashlib.sha256
            ).digest()
            if not hmac.compare_digest(base64.b64encode(digest).decode(), signed):
                return self._error(got, 310000, "sign not match")
        if not got.headers.get("content-type", "").startswith("application/json"):
            return self._error(got, 40035, "content type must be application/json")
        try:
            payload = json.loads(got.body)
            markdown = payload["markdown"]
            ok = payload["msgtype"] == "markdown" and isinstance(markdown["title"], str)
            ok = ok and isinstance(markdown["text"], str) and len(markdown["text"]) <= 20_000
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            return self._error(got, 40035, "bad markdown message")
        got.extra.update(title=markdown["title"], text=markdown["text"])
        return self._reply(0, "ok")
