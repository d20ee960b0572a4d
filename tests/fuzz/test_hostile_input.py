"""Hostile input: hypothesis feeds garbage and mutated sample events to the parsers and the real handler.

Properties:

* ``unwrap_event`` returns :class:`Unwrapped` or raises :class:`InvalidEvent`, never anything else;
* every :class:`RerunRequest` it yields re-validates, and every record is JSON-serialisable as UTF-8;
* a batch that mixes valid records with garbage still yields every valid one, in order;
* through the real handler (E-HPC simulator on 127.0.0.1, SQLite state): the handler returns an FC HTTP
  response dict (HTTP events) or a JSON string, or raises only :class:`RerunError`; no RerunJobs call
  names a cluster/job that was not in a valid record of the event.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as tally
from hypothesis import strategies as st
from pydantic import SecretStr

from ehpc_rerun import app
from ehpc_rerun.errors import InvalidEvent, RerunError
from ehpc_rerun.localrun import LocalContext, LocalCredentials
from ehpc_rerun.models import Acknowledged, RecordError, RerunRequest
from ehpc_rerun.settings import Settings
from ehpc_rerun.simulator import Simulator
from ehpc_rerun.sources import http_auth
from ehpc_rerun.sources.base import Unwrapped
from ehpc_rerun.sources.detect import unwrap_event

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
SAMPLES: dict[str, bytes] = {
    p.name: p.read_bytes() for p in sorted(EVENTS_DIR.iterdir()) if p.suffix in (".json", ".txt")
}
HTTP_SECRET = "test-shared-secret-not-real-0123456789"
ALERT_TOKEN = "test-alert-token-not-real-0123456789abcdef"
KEY_ID, KEY_SECRET = "test-ak-id", "test-secret-not-real"
FUZZ_CLUSTER = "ehpc-hz-fuzz01"
SIM_JOBS = [f"{n}.scheduler" for n in range(1, 46)]

PARSER = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
HUGE = "x" * 100_000
# placeholders replaced in the serialised event: structural nesting cannot go through json.dumps
DEEP_TOKEN = "__fuzz_deep__"
BAD_UTF8_TOKEN = "__fuzz_bad_utf8__"


@pytest.fixture(scope="module", autouse=True)
def _no_ambient_settings() -> Iterator[None]:
    """Settings() reads EHPC_RERUN_* variables: a developer's shell must not change these properties."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("EHPC_RERUN_"):
                mp.delenv(name)
        yield


@functools.cache
def parser_settings() -> tuple[Settings, ...]:
    return (
        Settings(),
        Settings(max_jobs_per_request=3, http_max_body_bytes=2048),
        Settings(
            http_auth="anonymous",
            http_secret=SecretStr(HTTP_SECRET),
            http_alert_token=SecretStr(ALERT_TOKEN),
        ),
        Settings(http_auth="anonymous"),  # no secret: everything refused
    )


# --- checks ---------------------------------------------------------------------------------------


def check_unwrap(event: Any, config: Settings) -> Unwrapped | None:
    """The parser property; returns the result (None for InvalidEvent) for further checks."""
    try:
        result = unwrap_event(event, config)
    except InvalidEvent as exc:
        assert exc.code == "InvalidEvent"
        assert exc.message
        assert len(exc.message) < 2_000, "an InvalidEvent message must not echo the event"
        exc.message.encode("utf-8")  # goes into a JSON log line and the reply
        return None
    assert isinstance(result, Unwrapped)
    for record in result.records:
        assert isinstance(record, (RerunRequest, RecordError, Acknowledged)), type(record)
        if isinstance(record, RerunRequest):
            assert RerunRequest.model_validate(record.model_dump()) == record
        record.model_dump_json().encode("utf-8")  # every record can be logged
    if result.reply is not None:
        assert 200 <= result.reply.status < 600
        assert result.records == []
        json.dumps(result.reply.body, ensure_ascii=False).encode("utf-8")
    return result


def requested(result: Unwrapped | None) -> list[tuple[str, tuple[str, ...]]]:
    if result is None:
        return []
    return [(r.cluster_id, r.job_ids) for r in result.records if isinstance(r, RerunRequest)]


def is_subsequence(needles: list[Any], haystack: list[Any]) -> bool:
    it = iter(haystack)
    return all(any(n == h for h in it) for n in needles)


# --- strategies: JSON values ----------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "\ud800",  # lone surrogate: JSON "\ud800" escapes produce it
            "1.s\udfff",
            "ehpc-hz-abc\n",
            "\x00\x1b[31m",
            "ALERT",
            "alertState=ALERT&dimensions={clusterId=ehpc-hz-a, jobId=1.s}",
            "eyJjbHVzdGVyX2lkIjogMX0=",  # Base64 of {"cluster_id": 1}
            "!!not base64!!",
            "[" * 5000,
            '{"cluster_id": "ehpc-hz-fuzz01", "job_ids": ["2.scheduler"]}',
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(
            st.one_of(st.text(max_size=12), st.sampled_from(["\ud800", "cluster_id"])), children, max_size=5
        ),
    ),
    max_leaves=25,
)


@st.composite
def hostile_values(draw: st.DrawFn) -> Any:
    """A replacement for a field: wrong type, huge, deep, invalid UTF-8, Base64 garbage, 5 000 ids."""
    kind = draw(st.sampled_from(["json", "huge", "deep", "bad_utf8", "b64", "many_ids", "empty"]))
    if kind == "huge":
        return draw(st.sampled_from([HUGE, [HUGE], {HUGE: HUGE}]))
    if kind == "deep":
        return DEEP_TOKEN
    if kind == "bad_utf8":
        return BAD_UTF8_TOKEN
    if kind == "b64":
        raw = draw(st.one_of(st.binary(max_size=200), st.just(b"[" * 5000), st.just(b"\xff\xfe{")))
        return draw(st.sampled_from([base64.b64encode(raw).decode(), "=" + base64.b64encode(raw).decode()]))
    if kind == "many_ids":
        return [f"{n}.scheduler" for n in range(draw(st.sampled_from([1001, 5000])))]
    if kind == "empty":
        return draw(st.sampled_from(["", [], {}, None]))
    return draw(json_values)


def _paths(node: Any, prefix: tuple[Any, ...] = (), out: list[tuple[Any, ...]] | None = None) -> list[Any]:
    out = [] if out is None else out
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        if len(out) >= 300:
            break
        out.append((*prefix, key))
        _paths(child, (*prefix, key), out)
    return out


def _open(value: str) -> tuple[Any, Callable[[Any], str]] | None:
    """A string that carries JSON (maybe Base64 of JSON): the JSON, and how to wrap it back."""
    try:
        inner = json.loads(value)
        if isinstance(inner, (dict, list)):
            return inner, json.dumps
    except (ValueError, RecursionError):
        pass
    try:
        inner = json.loads(base64.b64decode(value, validate=True))
        if isinstance(inner, (dict, list)):
            return inner, lambda v: base64.b64encode(json.dumps(v).encode()).decode()
    except (ValueError, RecursionError, UnicodeDecodeError):
        pass
    return None


def _mutate_string(draw: st.DrawFn, text: str) -> str:
    op = draw(st.sampled_from(["truncate", "insert", "double"]))
    at = draw(st.integers(0, len(text)))
    if op == "truncate":
        return text[:at]
    if op == "insert":
        return (
            text[:at]
            + draw(st.one_of(st.text(max_size=10), st.sampled_from(["&", "=", "%", "\ud800"])))
            + text[at:]
        )
    return text + text


def mutate(draw: st.DrawFn, doc: Any, depth: int = 0) -> Any:
    paths = _paths(doc)
    if not paths:
        return draw(hostile_values())
    path = draw(st.sampled_from(paths))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    current = parent[key]
    op = draw(st.sampled_from(["replace", "replace", "delete", "add_key", "inner", "string"]))
    if op == "delete":
        del parent[key]
    elif op == "add_key" and isinstance(current, dict):
        current[draw(st.one_of(st.text(max_size=10), st.sampled_from(["scan", "requests", "\ud800"])))] = (
            draw(hostile_values())
        )
    elif op == "inner" and isinstance(current, str) and depth < 2 and (opened := _open(current)) is not None:
        inner, wrap = opened
        parent[key] = wrap(mutate(draw, inner, depth + 1))
    elif op == "string" and isinstance(current, str):
        parent[key] = _mutate_string(draw, current)
    else:
        parent[key] = draw(hostile_values())
    return doc


def serialise(draw: st.DrawFn, doc: Any) -> bytes:
    text = json.dumps(doc)
    if DEEP_TOKEN in text:
        depth = draw(st.sampled_from([300, 900, 990, 5000]))
        deep = draw(
            st.sampled_from(["[" * depth + "]" * depth, "[" * depth, '{"a":' * depth + "1" + "}" * depth])
        )
        text = text.replace(json.dumps(DEEP_TOKEN), deep)
    data = text.encode()
    return data.replace(json.dumps(BAD_UTF8_TOKEN).encode(), b'"\xff\xfe\xc3(\xed\xa0\x80"')


@st.composite
def mutated_samples(draw: st.DrawFn, rename_cluster: bool = False) -> bytes:
    """An events/ file with 1-3 mutations, and sometimes a byte-level one on top."""
    name = draw(st.sampled_from(sorted(SAMPLES)))
    raw = SAMPLES[name]
    if rename_cluster:
        raw = raw.replace(b"ehpc-hz-demo01", FUZZ_CLUSTER.encode()).replace(
            b"ehpc-sh-demo02", FUZZ_CLUSTER.encode()
        )
    if name.endswith(".txt"):
        opened = _open(raw.decode())
        assert opened is not None
        inner, wrap = opened
        for _ in range(draw(st.integers(0, 2))):
            inner = mutate(draw, inner)
        data = wrap(inner).encode() if DEEP_TOKEN not in json.dumps(inner) else serialise(draw, inner)
    else:
        doc = json.loads(raw)
        for _ in range(draw(st.integers(0, 3))):
            doc = mutate(draw, doc)
        data = serialise(draw, doc)
    op = draw(st.sampled_from(["none", "none", "none", "flip", "truncate", "bad_byte"]))
    if op != "none" and data:
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif op == "truncate":
            data = data[:at]
        else:
            data = data[:at] + b"\xff" + data[at:]
    return data


@st.composite
def http_events(draw: st.DrawFn) -> bytes:
    """HTTP trigger events with random method, path, content type, body, Base64 flag and auth headers."""
    body = draw(
        st.one_of(
            st.just(json.dumps({"cluster_id": FUZZ_CLUSTER, "job_ids": ["3.scheduler"]})),
            st.just(
                "alertState=ALERT&alertName=a&dimensions=%7BclusterId%3Dehpc-hz-fuzz01%2C+jobId%3D4.scheduler%7D"
            ),
            st.text(max_size=200),
            st.just(HUGE),
            st.just("[" * 5000),
            st.none(),
        )
    )
    raw = (body or "").encode("utf-8", "surrogatepass")
    b64 = draw(st.booleans())
    headers: dict[str, str] = {}
    if draw(st.booleans()):
        headers["Content-Type"] = draw(
            st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", "", ";;"])
        )
    auth = draw(st.sampled_from(["none", "good", "bad", "weird"]))
    timestamp = draw(st.sampled_from(["1795588871", "nan", "inf", "-1e309", "0x10", "", "١٢٣"]))
    method = draw(st.sampled_from(["POST", "GET", "HEAD", "PUT", "post", "", "\ud800"]))
    raw_path = draw(st.sampled_from(["/", "/health", "/rerun", "/%ZZ", ""]))
    path = draw(st.sampled_from(["/rerun", "/health", "/", ""]))
    if auth == "good":
        import time

        # signed for what is really sent: the method and the path the function routes on
        timestamp = str(int(time.time()))
        signed_path = path or raw_path or "/"
        headers["X-Ehpc-Rerun-Signature"] = http_auth.sign(
            HTTP_SECRET, timestamp, raw, method=method.upper(), path=signed_path
        )
    elif auth in ("bad", "weird"):
        headers["X-Ehpc-Rerun-Signature"] = draw(st.sampled_from(["00", "\ud800", "Z" * 64, HUGE[:1000]]))
    if auth != "none":
        headers["X-Ehpc-Rerun-Timestamp"] = timestamp
    event: dict[str, Any] = {
        "version": "v1",
        "rawPath": raw_path,
        "body": base64.b64encode(raw).decode() if b64 and body is not None else body,
        "isBase64Encoded": b64,
        "headers": headers,
        "queryParameters": draw(st.sampled_from([{}, {"token": ALERT_TOKEN}, {"token": "\ud800"}])),
        "requestContext": {
            "requestId": draw(st.sampled_from(["1-fuzz", "r" * 300, "\ud800", None])),
            "http": {
                "method": method,
                "path": path,
            },
        },
    }
    for _ in range(draw(st.integers(0, 2))):
        event = mutate(draw, event)
    return serialise(draw, event)


# --- parser properties ----------------------------------------------------------------------------


@PARSER
@given(data=st.binary(max_size=2_000), which=st.integers(0, 3))
def test_arbitrary_bytes_never_crash_the_parser(data: bytes, which: int) -> None:
    check_unwrap(data, parser_settings()[which])


@PARSER
@given(value=json_values, which=st.integers(0, 3))
def test_arbitrary_json_never_crashes_the_parser(value: Any, which: int) -> None:
    check_unwrap(json.dumps(value).encode(), parser_settings()[which])


@PARSER
@given(event=mutated_samples(), which=st.integers(0, 3))
def test_mutated_sample_events_never_crash_the_parser(event: bytes, which: int) -> None:
    check_unwrap(event, parser_settings()[which])


@PARSER
@given(event=http_events(), which=st.integers(0, 3))
def test_hostile_http_events_never_crash_the_parser(event: bytes, which: int) -> None:
    check_unwrap(event, parser_settings()[which])


# --- mixed batches --------------------------------------------------------------------------------


def _cloudevent(etype: str, data: Any, event_id: str) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": "fuzz", "type": etype, "data": data}


def valid_element(kind: str, cluster: str, job: str, n: int) -> Any:
    """One valid batch element of the given product carrying one request."""
    body = json.dumps({"cluster_id": cluster, "job_ids": [job]})
    if kind == "mns":
        return _cloudevent("mns:Queue:SendMessage", {"messageBody": body}, f"e{n}")
    if kind == "mns_b64":
        return _cloudevent(
            "mns:Queue:SendMessage", {"messageBody": base64.b64encode(body.encode()).decode()}, f"e{n}"
        )
    if kind == "rocketmq":
        return _cloudevent(
            "mq:Topic:SendMessage", {"topic": "t", "systemProperties": {}, "body": body}, f"e{n}"
        )
    if kind == "kafka":
        return _cloudevent("alikafka:Topic:Message", {"partition": 1, "value": json.loads(body)}, f"e{n}")
    if kind == "custom":
        return _cloudevent("ehpc:Custom:Rerun", json.loads(body), f"e{n}")
    if kind == "alert":
        dims = f"{{clusterId={cluster}, jobId={job}}}"
        return _cloudevent(
            "cms:CloudMonitor:AlertWebHook", {"alertState": "ALERT", "dimensions": dims}, f"e{n}"
        )
    return {"msgId": f"m{n}", "topic": "t", "body": body}  # raw Apache RocketMQ


GARBAGE_KEYS = frozenset({"specversion", "data", "msgId", "topic", "body"})
garbage_elements = st.one_of(
    json_values.filter(lambda v: not (isinstance(v, dict) and GARBAGE_KEYS & set(v))),
    st.builds(lambda d: _cloudevent("mns:Queue:SendMessage", d, "g"), json_values),
    st.builds(
        lambda d: _cloudevent("alikafka:Topic:Message", {"partition": 0, "value": d}, "g"), json_values
    ),
    st.just({"specversion": "1.0"}),
    st.just(HUGE),
)


@st.composite
def mixed_cloudevent_batches(draw: st.DrawFn) -> tuple[list[Any], list[tuple[str, tuple[str, ...]]]]:
    kinds = st.sampled_from(["mns", "mns_b64", "rocketmq", "kafka", "custom", "alert", "raw_rocketmq"])
    clusters = st.sampled_from(["ehpc-hz-a1", "ehpc-sh-b2", FUZZ_CLUSTER])
    valid = [(draw(kinds), draw(clusters), f"{n}.v") for n in range(draw(st.integers(1, 15)))]
    garbage = draw(st.lists(garbage_elements, min_size=1, max_size=15))
    items: list[tuple[bool, Any]] = [(True, v) for v in valid] + [(False, g) for g in garbage]
    order = draw(st.permutations(range(len(items))))
    batch, expected = [], []
    for n, position in enumerate(order):
        is_valid, item = items[position]
        if is_valid:
            kind, cluster, job = item
            batch.append(valid_element(kind, cluster, job, n))
            expected.append((cluster, (job,)))
        else:
            batch.append(item)
    return batch, expected


@PARSER
@given(case=mixed_cloudevent_batches())
def test_mixed_cloudevent_batch_yields_every_valid_record(
    case: tuple[list[Any], list[tuple[str, tuple[str, ...]]]],
) -> None:
    # given a batch in which valid elements of every product are shuffled among garbage
    batch, expected = case
    # when unwrapped
    result = check_unwrap(serialise_plain(batch), Settings())
    # then every valid element's request is there, in batch order, and no element is silently dropped
    assert result is not None
    assert is_subsequence(expected, requested(result))
    assert len(result.records) >= len(batch)


def serialise_plain(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


@st.composite
def mixed_direct_batches(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, tuple[str, ...]]]]:
    valid = [
        {"cluster_id": draw(st.sampled_from(["ehpc-hz-a1", FUZZ_CLUSTER])), "job_ids": [f"{n}.scheduler"]}
        for n in range(draw(st.integers(1, 10)))
    ]
    garbage = draw(
        st.lists(
            json_values.filter(lambda v: not (isinstance(v, dict) and GARBAGE_KEYS & set(v))), max_size=10
        )
    )
    items = [(True, v) for v in valid] + [(False, g) for g in garbage]
    order = draw(st.permutations(range(len(items))))
    batch = [items[i][1] for i in order]
    expected = [(v["cluster_id"], tuple(v["job_ids"])) for ok, v in (items[i] for i in order) if ok]
    wrapping = draw(st.sampled_from(["list", "requests", "http", "timer", "mns_topic"]))
    if wrapping == "requests":
        event: Any = {"requests": batch}
    elif wrapping == "http":
        event = {
            "version": "v1",
            "body": json.dumps(batch),
            "headers": {"Content-Type": "application/json"},
            "requestContext": {"requestId": "r", "http": {"method": "POST", "path": "/rerun"}},
        }
    elif wrapping == "timer":
        event = {"triggerTime": "t", "triggerName": "n", "payload": json.dumps(batch)}
    elif wrapping == "mns_topic":
        event = {
            "TopicName": "t",
            "Message": base64.b64encode(json.dumps(batch).encode("utf-8", "surrogatepass")).decode(),
        }
    else:
        event = batch
    return serialise_plain(event), expected


@PARSER
@given(case=mixed_direct_batches())
def test_mixed_request_batch_yields_every_valid_request(
    case: tuple[bytes, list[tuple[str, tuple[str, ...]]]],
) -> None:
    # given valid requests shuffled among garbage, as a list, {"requests"}, an HTTP body, a timer payload
    # or a Base64 MNS topic message
    event, expected = case
    # when unwrapped
    result = check_unwrap(event, Settings())
    # then every valid request is there, in order
    assert result is not None
    assert is_subsequence(expected, requested(result))


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(count=st.integers(4_000, 5_000), garbage_every=st.integers(2, 50), seed=st.integers(0, 2**32))
def test_thousands_of_cloudevents_with_garbage_keep_every_valid_one(
    count: int, garbage_every: int, seed: int
) -> None:
    # given ~5 000 CloudEvents, every garbage_every-th one broken
    rng = random.Random(seed)
    kinds = ["mns", "mns_b64", "rocketmq", "kafka", "custom", "alert"]
    batch: list[Any] = []
    expected = []
    for n in range(count):
        if n % garbage_every == 0:
            batch.append(
                rng.choice([{"x": n}, _cloudevent("mns:Queue:SendMessage", {"messageBody": "TEST"}, "g"), n])
            )
        else:
            batch.append(valid_element(rng.choice(kinds), FUZZ_CLUSTER, f"{n}.s", n))
            expected.append((FUZZ_CLUSTER, (f"{n}.s",)))
    # when unwrapped
    result = check_unwrap(json.dumps(batch).encode(), Settings())
    # then one record per element, every valid one a request
    assert result is not None
    assert len(result.records) == count
    assert requested(result) == expected


# --- end to end through the real handler ----------------------------------------------------------


@pytest.fixture(scope="module")
def handler_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, pytest.MonkeyPatch]]:
    """The E-HPC simulator on 127.0.0.1 and the function's settings pointing at it (restored after)."""
    state = tmp_path_factory.mktemp("fuzz-state") / "s.db"
    with Simulator(access_keys={KEY_ID: KEY_SECRET}) as sim, pytest.MonkeyPatch.context() as mp:
        sim.add_cluster(FUZZ_CLUSTER)
        for job in SIM_JOBS:
            sim.add_job(FUZZ_CLUSTER, job, state="QUEUED" if job.startswith("5") else "RUNNING")
        mp.setenv("EHPC_RERUN_ENDPOINT", sim.endpoint)
        mp.setenv("EHPC_RERUN_STATE", f"sqlite:///{state}")
        mp.setenv("EHPC_RERUN_REGION", "cn-hangzhou")
        # every example may rerun the same jobs again: no dedupe window, a budget that never runs out
        mp.setenv("EHPC_RERUN_DEDUPE_WINDOW_S", "0")
        mp.setenv("EHPC_RERUN_BUDGET_MAX_RERUNS", "1000")
        mp.setenv("EHPC_RERUN_RETRY_MAX_ATTEMPTS", "2")
        mp.setenv("EHPC_RERUN_RETRY_BASE_DELAY_MS", "5")
        mp.setenv("EHPC_RERUN_RETRY_MAX_DELAY_MS", "20")
        mp.setenv("EHPC_RERUN_CONNECT_TIMEOUT_MS", "1000")
        mp.setenv("EHPC_RERUN_READ_TIMEOUT_MS", "2000")
        app.reset()
        yield sim, mp
        app.reset()
    app.reset()


@pytest.fixture(params=["function", "anonymous"])
def simulator(request: pytest.FixtureRequest, handler_env: tuple[Simulator, pytest.MonkeyPatch]) -> Simulator:
    """Both HTTP auth modes: anonymous with a shared secret (signed requests claim a replay key)."""
    sim, mp = handler_env
    mp.setenv("EHPC_RERUN_HTTP_AUTH", request.param)
    mp.setenv("EHPC_RERUN_HTTP_SECRET", HTTP_SECRET)
    mp.setenv("EHPC_RERUN_HTTP_ALERT_TOKEN", ALERT_TOKEN)
    app.reset()
    return sim


e2e_events = st.one_of(
    mutated_samples(rename_cluster=True),
    http_events(),
    st.binary(max_size=300),
    mixed_direct_batches().map(lambda case: case[0]),
    st.lists(
        st.builds(
            lambda jobs, cluster: {"cluster_id": cluster, "job_ids": jobs},
            st.lists(
                st.sampled_from([*SIM_JOBS[:8], "999.scheduler", " 1.scheduler", "1.scheduler\ud800"]),
                max_size=4,
            ),
            st.sampled_from(
                [FUZZ_CLUSTER] * 3 + ["ehpc-hz-other1", "ehpc-hz-fuzz01\n", "ehpc-hz-fuzz\ud800"]
            ),
        ),
        min_size=1,
        max_size=5,
    ).map(serialise_plain),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(event=e2e_events)
def test_handler_answers_every_event_and_reruns_only_valid_records(
    event: bytes, simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the jobs the event validly names (computed with the handler's own settings)
    config = app.settings()
    try:
        unwrapped: Unwrapped | None = unwrap_event(event, config)
    except InvalidEvent:
        unwrapped = None
    allowed = {(c, j) for c, jobs in requested(unwrapped) for j in jobs}
    calls_before = len(simulator.calls_for("RerunJobs"))
    # when the real handler runs it, as FC would
    context = LocalContext(credentials=LocalCredentials(KEY_ID, KEY_SECRET, None))
    try:
        result = app.handler(event, context)
    except RerunError:
        result = None  # a documented error (e.g. RedeliveryRequested), raised on purpose
    finally:
        capsys.readouterr()  # drop the JSON log lines
    # then it answered in the trigger's shape ...
    if result is not None:
        if unwrapped is not None and unwrapped.http:
            assert isinstance(result, dict)
            assert isinstance(result["statusCode"], int)
            assert 200 <= result["statusCode"] < 600
            body = result["body"]
        else:
            assert isinstance(result, str)
            body = result
        assert isinstance(body, str)
        body.encode("utf-8")
        assert isinstance(json.loads(body), dict)
        assert "Traceback" not in body
    # ... and E-HPC was asked to rerun only jobs of valid records
    new_calls = simulator.calls_for("RerunJobs")[calls_before:]
    tally(f"unwrapped as {unwrapped.kind.value if unwrapped else 'InvalidEvent'}")
    tally("RerunJobs called" if new_calls else "no RerunJobs call")
    for call in new_calls:
        for job in call.job_ids:
            assert (call.cluster_id, job) in allowed, (call.cluster_id, job, sorted(allowed))
