"""Where invocation reports go: the log (always), then MNS, EventBridge and DingTalk if configured.

:func:`build_sinks` is the only entry point the handler needs; each optional sink module is
imported only when its settings are present (EventBridge pulls the OpenAPI SDK, ~0.35 s).
Every secret a sink holds is registered for redaction before any sink exists.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.errors import ConfigError
from ehpc_rerun.settings import Settings

from .base import Sink
from .log import LogSink, register_secrets


def _webhook_secrets(url: str) -> list[str]:
    query = dict(parse_qsl(urlsplit(url).query))
    return [url, query.get("access_token", "")]


def _need(credentials: Credentials | None, sink: str) -> Credentials:
    if credentials is None:
        raise ConfigError(
            f"the {sink} sink is configured but there are no credentials", code="MissingCredentials"
        )
    return credentials


def build_sinks(settings: Settings, credentials: Credentials | None) -> list[Sink]:
    """LogSink first, then whichever of MNS, EventBridge and DingTalk the settings configure."""
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
        from .dingtalk import DingTalkSink

        sinks.append(DingTalkSink(webhook, ding_secret, settings.dingtalk_statuses, settings.sink_timeout_s))
    return sinks


__all__ = ["Sink", "build_sinks"]
