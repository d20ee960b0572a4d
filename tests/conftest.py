"""Shared fixtures: the E-HPC simulator on 127.0.0.1, settings through the environment, and a way to
invoke the real handler the way FC does (event as bytes, a context with STS credentials)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from ehpc_rerun import app
from ehpc_rerun.localrun import LocalContext, LocalCredentials
from ehpc_rerun.simulator import Simulator
from ehpc_rerun.sinks import log as log_sink
from tests import secrets_guard
from tests.state.redis_server import RedisServerMissing, start_redis, stop_redis

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
KEY_ID = "test-ak-id"
SECRET = "test-secret-not-real"
TOKEN = "test-sts-token-not-real"
CLUSTER = "ehpc-hz-test01"


@pytest.fixture(autouse=True, scope="session")
def _watch_everything_the_function_prints() -> Iterator[None]:
    original = log_sink.redact
    log_sink.redact = secrets_guard.watching(original)
    yield
    log_sink.redact = original


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Fail any test during which the function printed or returned a secret (issue: no secret ever logged)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "teardown":
        return
    leaks = secrets_guard.take()
    printed = "".join(text for _, text in report.sections)
    leaks += [
        f"{', '.join(found)} in captured output" for found in [secrets_guard.leaked_in(printed)] if found
    ]
    if leaks and report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = "secret(s) appeared in what the function printed or returned:\n" + "\n".join(leaks)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator that knows our test key and demands its STS token; one cluster with 300 running jobs."""
    with Simulator(access_keys={KEY_ID: SECRET}, security_tokens={KEY_ID: TOKEN}) as simulator:
        simulator.add_cluster(CLUSTER)
        for n in range(1, 301):
            simulator.add_job(CLUSTER, f"{n}.scheduler", state="RUNNING")
        yield simulator


@pytest.fixture
def settings_env(
    monkeypatch: pytest.MonkeyPatch, sim: Simulator, tmp_path: Path
) -> Iterator[Callable[..., None]]:
    """Point the function at the simulator and a fresh SQLite store; call it to set more settings."""

    def configure(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"EHPC_RERUN_{name.upper()}", str(value))
        app.reset()

    monkeypatch.setenv("EHPC_RERUN_ENDPOINT", sim.endpoint)
    monkeypatch.setenv("EHPC_RERUN_STATE", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("EHPC_RERUN_REGION", "cn-hangzhou")
    monkeypatch.setenv("EHPC_RERUN_RETRY_BASE_DELAY_MS", "5")
    monkeypatch.setenv("EHPC_RERUN_RETRY_MAX_DELAY_MS", "50")
    monkeypatch.setenv("EHPC_RERUN_CONNECT_TIMEOUT_MS", "1000")
    monkeypatch.setenv("EHPC_RERUN_READ_TIMEOUT_MS", "2000")
    app.reset()
    yield configure
    app.reset()


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """A function without a RAM role: no context credentials and no ALIBABA_CLOUD_* variables."""
    for name in (
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_SECURITY_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


def context(**overrides: Any) -> LocalContext:
    return LocalContext(credentials=LocalCredentials(KEY_ID, SECRET, TOKEN), **overrides)


def decode(result: Any) -> dict[str, Any]:
    """The handler's return value as a dict: HTTP responses get their JSON body parsed under 'body'."""
    if isinstance(result, dict):
        parsed = dict(result)
        parsed["body"] = json.loads(result["body"])
        return parsed
    data: dict[str, Any] = json.loads(result)
    return data


@pytest.fixture
def invoke(settings_env: Callable[..., None]) -> Callable[..., dict[str, Any]]:
    """Run the real handler on an event (bytes, str or JSON-able object) and decode what it returns."""

    def run(event: Any, **ctx: Any) -> dict[str, Any]:
        raw = event if isinstance(event, (bytes, str)) else json.dumps(event)
        raw_bytes = raw.encode() if isinstance(raw, str) else raw
        try:
            result = app.handler(raw_bytes, context(**ctx))
        except Exception as exc:
            secrets_guard.record(f"{type(exc).__name__}: {exc}")
            raise
        secrets_guard.record(json.dumps(result) if isinstance(result, dict) else str(result))
        return decode(result)

    return run


def request(jobs: list[str], cluster: str = CLUSTER, **extra: Any) -> dict[str, Any]:
    return {"cluster_id": cluster, "job_ids": jobs, **extra}


def http_event(
    body: str | bytes | None,
    *,
    method: str = "POST",
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    path: str = "/rerun",
    base64_body: bool = False,
    request_id: str = "1-test-0001",
) -> dict[str, Any]:
    """An FC 3.0 HTTP trigger event (fc-events.md §2.1). ``base64_body`` encodes the body as FC does."""
    raw = body.encode() if isinstance(body, str) else body
    if base64_body and raw is not None:
        wire: str | None = base64.b64encode(raw).decode()
    else:
        wire = raw.decode("utf-8", errors="surrogateescape") if raw is not None else None
    all_headers = {"User-Agent": "pytest"}
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    all_headers.update(headers or {})
    return {
        "version": "v1",
        "rawPath": path,
        "body": wire,
        "isBase64Encoded": base64_body,
        "headers": all_headers,
        "queryParameters": query or {},
        "requestContext": {
            "accountId": "123456789012****",
            "domainName": "t.cn-hangzhou.fcapp.run",
            "domainPrefix": "t",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "pytest",
            },
            "requestId": request_id,
            "time": "2026-11-25T06:41:11Z",
            "timeEpoch": "1795588871895",
        },
    }


def statuses(result: dict[str, Any]) -> dict[str, str]:
    body = result.get("body", result)
    return {f"{o['cluster_id']}/{o['job_id']}": o["status"] for o in body["outcomes"]}


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """URL of a redis-server started for this test session (127.0.0.1 only, no persistence)."""
    try:
        process, url = start_redis()
    except RedisServerMissing as exc:
        pytest.fail(str(exc))
    try:
        yield url
    finally:
        stop_redis(process)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session server's URL, with its database emptied for this test."""
    client = redis.Redis.from_url(redis_server)
    try:
        client.flushdb()
    finally:
        client.close()
    return redis_server
