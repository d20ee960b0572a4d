"""Where invocation reports go: the log (always), then MNS, EventBridge and DingTalk if configured.

MNS and EventBridge (read by machines) get one message per invocation; DingTalk (read by people) gets
a digest of the escalations, at most one message per window (:mod:`.digest`).

:func:`build_sinks` is the only entry point the handler needs; each optional sink module is
imported only when its settings are present (EventBridge pulls the OpenAPI SDK, ~0.35 s).
Every secret a sink holds is registered for redaction before any sink exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.errors import ConfigError
from ehpc_rerun.settings import Settings

from .base import Sink
from .log import LogSink, register_secrets

if TYPE_CHECKING:  # the state package is imported only when the DingTalk digest needs it
    from ehpc_rerun.state.base import StateStore


def _webhook_secrets(url: str) -> list[str]:
    query = dict(parse_qsl(urlsplit(url).query))
    return [url, query.get("access_token", "")]


def _need(credentials: Credentials | None, sink: str) -> Credentials:
    if credentials is None:
        raise ConfigError(
            f"the {sink} sink is configured but there are no credentials", code="MissingCredentials"
        )
    return credentials


def build_sinks(
    settings: Settings,
    credentials: Credentials | None,
    *,
    store: Callable[[], StateStore] | None = None,
    now_ms: Callable[[], int] | None = None,
) -> list[Sink]:
    """LogSink first, then whichever of MNS, EventBridge and DingTalk the settings configure.

    DingTalk is for people, so it is digested (:mod:`.digest`): at most one message per
    ``dingtalk_digest_window_s`` for the whole function, shared through ``store`` (default: this
    instance's state store, opened only when DingTalk is configured) with the clock ``now_ms``.
    """
    if credentials is not None:
        register_secrets(credentials.secrets())
    webhook = settings.dingtalk_webhook.get_secret_value() if settings.dingtalk_webhook else None
    ding_secret = settings.dingtalk_secret.get_secret_value() if settings.dingtalk_secret else None
    if webhook:
        register_secrets(_webhook_secrets(webhook))
    register_secrets([ding_secret])

    sinks: list[Sink] = [LogSink()]
    if settings.mns_endpoint and settings.mns_topic:
        from .mns import MnsTopicSink

        sinks.append(
            MnsTopicSink(
                str(settings.mns_endpoint),
                settings.mns_topic,
                _need(credentials, "MNS"),
                settings.sink_timeout_s,
            )
        )
    if settings.eventbridge_bus:
        from .eventbridge import EventBridgeSink

        sinks.append(
            EventBridgeSink(
                settings.eventbridge_bus,
                settings.eventbridge_endpoint,
                settings.region,
                settings.eventbridge_source,
                _need(credentials, "EventBridge"),
                timeout_s=settings.sink_timeout_s,
            )
        )
    if webhook:
        from .digest import DigestSink
        from .dingtalk import DingTalkSink

        robot = DingTalkSink(webhook, ding_secret, settings.dingtalk_statuses, settings.sink_timeout_s)
        sinks.append(
            DigestSink(
                robot,
                store if store is not None else lambda: _instance_store(settings),
                statuses=settings.dingtalk_statuses,
                window_s=settings.dingtalk_digest_window_s,
                max_jobs=settings.dingtalk_digest_max_jobs,
                link=str(settings.escalation_link) if settings.escalation_link else None,
                now_ms=now_ms,
            )
        )
    return sinks


def _instance_store(settings: Settings) -> StateStore:
    from ehpc_rerun import instance  # imported late: instance imports this package

    return instance.store(settings)


__all__ = ["Sink", "build_sinks"]
