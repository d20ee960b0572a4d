"""Tell people in a DingTalk group, through a custom robot webhook, when a human must act.

Signing ("加签", sinks-and-state.md §3.2)::

    timestamp     = current time in **milliseconds** (DingTalk rejects more than 1 hour of skew)
    string_to_sign = f"{timestamp}\\n{secret}"
    sign          = base64(HMAC-SHA256(key=secret, msg=string_to_sign))       -- key is the secret
    URL           = webhook + "&timestamp=<ms>&sign=<url-encoded sign>"      -- encoded exactly once

(Feishu/Lark signs the other way round -- key = string_to_sign, empty message, seconds -- do not mix
them up.) The message is ``{"msgtype":"markdown","markdown":{"title","text"}}`` with the text from
:func:`~ehpc_rerun.sinks.render.render_markdown`. Its title starts with ``ehpc-rerun``, so a robot in
"custom keyword" mode works with the keyword ``ehpc-rerun``.

``wants()`` is true only when some job has a status in ``statuses`` (default: the statuses that need
a human). DingTalk answers HTTP 200 even on errors: a body ``{"errcode": != 0, "errmsg"}`` is a
failure coded ``DingTalk.<errcode>``; "too fast" (130101) and "busy" (-1) are retried, the rest not.
The webhook URL carries the robot's ``access_token``; it never appears in an error message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlencode

from ehpc_rerun.errors import ConfigError, PermanentSinkError, TransientSinkError
from ehpc_rerun.models import HUMAN_STATUSES
from ehpc_rerun.report import InvocationReport

from ._http import Target, post
from .render import render_markdown, title

DEFAULT_STATUSES = tuple(sorted(s.value for s in HUMAN_STATUSES))
_TRANSIENT_ERRCODES = frozenset({-1, 130101})
# The robot is throttled ("send too fast", 20 messages a minute, then 10 minutes of refusals; "webhook over
# limit"): sending again soon only prolongs it (production.md, "People's channels").
THROTTLED_CODES = frozenset({"DingTalk.130101", "DingTalk.90030"})
THROTTLE_S = 600


def sign(timestamp_ms: int, secret: str) -> str:
    """The robot signature, Base64 (not yet URL-encoded)."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode("utf-8"), to_sign, hashlib.sha256).digest()).decode(
        "ascii"
    )


def message(report: InvocationReport) -> dict[str, object]:
    return {"msgtype": "markdown", "markdown": {"title": title(report), "text": render_markdown(report)}}


class DingTalkSink:
    """Posts a markdown summary when a job needs a human."""

    name = "dingtalk"

    def __init__(
        self,
        webhook_url: str,
        secret: str | None = None,
        statuses: Iterable[str] = DEFAULT_STATUSES,
        timeout_s: float = 3.0,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            self._target = Target.parse(webhook_url)
        except ValueError as exc:
            raise ConfigError(f"EHPC_RERUN_DINGTALK_WEBHOOK {exc}") from None
        if self._target.scheme != "https" and not self._target.is_loopback:
            raise ConfigError("EHPC_RERUN_DINGTALK_WEBHOOK must be https:// (it carries the robot token)")
        self._secret = secret
        self._statuses = frozenset(statuses)
        self._timeout_s = timeout_s
        self._clock = clock

    def wants(self, report: InvocationReport) -> bool:
        return any(o.status.value in self._statuses for o in report.outcomes)

    def _path_and_query(self) -> str:
        query = self._target.query
        if self._secret:
            timestamp = int(self._clock() * 1000)
            signed = urlencode({"timestamp": str(timestamp), "sign": sign(timestamp, self._secret)})
            query = f"{query}&{signed}" if query else signed
        return f"{self._target.path}?{query}" if query else self._target.path

    def publish(self, report: InvocationReport) -> None:
        self.send(message(report))

    def send_markdown(self, title: str, text: str) -> None:
        """One markdown message (the escalation digest); raises like :meth:`publish`."""
        self.send({"msgtype": "markdown", "markdown": {"title": title, "text": text}})

    def send(self, payload: dict[str, object]) -> None:
        """One signed POST of ``payload``; :class:`TransientSinkError` / :class:`PermanentSinkError`."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        reply = post(
            self._target, self._path_and_query(), body, headers, timeout_s=self._timeout_s, prefix="DingTalk"
        )
        if reply.status != 200:
            error = TransientSinkError if reply.status >= 500 or reply.status == 429 else PermanentSinkError
            raise error(
                f"the DingTalk robot answered HTTP {reply.status}", code=f"DingTalk.HTTP{reply.status}"
            )
        try:
            answer = json.loads(reply.body)
            errcode = int(answer.get("errcode", -2))
            errmsg = str(answer.get("errmsg", ""))
        except (ValueError, TypeError, AttributeError):
            raise TransientSinkError(
                "the DingTalk robot answered something that is not its JSON reply", code="DingTalk.BadReply"
            ) from None
        if errcode != 0:
            error = TransientSinkError if errcode in _TRANSIENT_ERRCODES else PermanentSinkError
            raise error(f"the DingTalk robot refused the message: {errmsg}", code=f"DingTalk.{errcode}")
