"""build_sinks(): the log always first, the others only when configured, secrets registered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.errors import ConfigError
from ehpc_rerun.settings import Settings
from ehpc_rerun.sinks import build_sinks
from ehpc_rerun.sinks.log import redact

from .fakes import DING_SECRET

WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token=tokenvalue-not-real"


def test_nothing_configured_gives_the_log_sink_only() -> None:
    assert [s.name for s in build_sinks(Settings(), None)] == ["log"]


def test_everything_configured_gives_log_then_mns_eventbridge_dingtalk() -> None:
    settings = Settings(
        region="cn-hangzhou",
        mns_endpoint="https://1234.mns.cn-hangzhou.aliyuncs.com",
        mns_topic="ehpc-reports",
        eventbridge_bus="ehpc-bus",
        dingtalk_webhook=WEBHOOK,
        dingtalk_secret=DING_SECRET,
    )
    creds = Credentials("AKtest-not-real", "akscrt-not-real", "ststok-not-real")
    sinks = build_sinks(settings, creds)
    assert [s.name for s in sinks] == ["log", "mns", "eventbridge", "dingtalk"]
    # and every secret is now redacted from any output
    text = f"{creds.access_key_secret} {creds.security_token} tokenvalue-not-real {DING_SECRET}"
    assert redact(text) == "*** *** *** ***"


def test_a_cloud_sink_without_credentials_is_a_config_error() -> None:
    settings = Settings(mns_endpoint="https://1234.mns.cn-hangzhou.aliyuncs.com", mns_topic="t1")
    with pytest.raises(ConfigError) as caught:
        build_sinks(settings, None)
    assert caught.value.code == "MissingCredentials"


def test_unconfigured_sink_modules_are_not_imported() -> None:
    code = (
        "import sys; from ehpc_rerun.settings import Settings; from ehpc_rerun.sinks import build_sinks; "
        f"build_sinks(Settings(dingtalk_webhook={WEBHOOK!r}), None); "
        "print(sorted(m for m in sys.modules "
        "if m.startswith(('ehpc_rerun.sinks.', 'alibabacloud_eventbridge'))))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "handler")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    loaded = out.stdout.strip()
    assert "ehpc_rerun.sinks.dingtalk" in loaded
    assert "ehpc_rerun.sinks.mns" not in loaded
    assert "eventbridge" not in loaded
