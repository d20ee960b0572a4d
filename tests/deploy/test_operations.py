"""The SLS index, dashboard and alert of template.yml query fields the function really writes.

Real outcome lines come from the real handler against the E-HPC simulator (tests/conftest.py
fixtures): reruns, a blast-radius cap, a sink that cannot be reached and a state store that is down.
Every ``message.<key>`` a query names must be a key of the lines of the type that query selects, and
be indexed; every status it names must be a real status.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun.models import HUMAN_STATUSES, Status
from tests.conftest import http_event, request

from .ros import Evaluation, load_template, sub_text
from .scenarios import ALL_ON

T = load_template()
RESOURCES = T["Resources"]
FIELD = re.compile(r"message\.([a-z_]+)")
TYPE_FILTER = re.compile(r'message\.type: "([a-z_.]+)"')
STATUS_SEARCH = re.compile(r"message\.status: ([a-z_]+)")
STATUS_SQL = re.compile(r"'([a-z_]+)'")


def queries() -> dict[str, str]:
    """Every query of the dashboard's charts and of the alert, by where it is."""
    out = {}
    for index, chart in enumerate(RESOURCES["OpsDashboard"]["Properties"]["Charts"]):
        out[f"chart {index} ({chart['title']})"] = sub_text(chart["search"]["query"]["Fn::Sub"])
    config = RESOURCES["NeedsHumanAlert"]["Properties"]["Detail"]["Configuration"]
    for index, item in enumerate(config["QueryList"]):
        out[f"alert query {index}"] = sub_text(item["Query"]["Fn::Sub"])
    return out


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def emitted(
    invoke: Callable[..., dict[str, Any]],
    settings_env: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> dict[str, list[dict[str, Any]]]:
    """The JSON lines the handler printed, by type, over four invocations that cover every line type."""
    # reruns, with an MNS sink on a port where nothing listens: outcome, summary and sink_failed lines
    settings_env(mns_endpoint=f"http://127.0.0.1:{closed_port()}", mns_topic="reports", sink_retries=0)
    invoke(http_event(json.dumps(request(["1.scheduler", "2.scheduler"]))))
    # more jobs than the cap: capped outcomes (a status that needs a person)
    settings_env(max_jobs_per_invocation=1)
    invoke(http_event(json.dumps(request(["3.scheduler", "4.scheduler"]))))
    # the state store is down: an ehpc_rerun.error line, nothing decided
    settings_env(state=f"redis://127.0.0.1:{closed_port()}/0")
    invoke(http_event(json.dumps(request(["5.scheduler"]))))
    lines: dict[str, list[dict[str, Any]]] = {}
    for raw in capsys.readouterr().out.splitlines():
        if raw.startswith("{"):
            record = json.loads(raw)
            lines.setdefault(record["type"], []).append(record)
    return lines


def test_the_handler_writes_every_line_type_the_dashboard_reads(
    emitted: dict[str, list[dict[str, Any]]],
) -> None:
    statuses = {line["status"] for line in emitted["ehpc_rerun.outcome"]}
    assert {"rerun", "capped"} <= statuses
    assert {"ehpc_rerun.summary", "ehpc_rerun.sink_failed", "ehpc_rerun.error"} <= set(emitted)


def test_every_field_a_query_names_is_a_key_of_the_lines_it_selects(
    emitted: dict[str, list[dict[str, Any]]],
) -> None:
    problems = []
    for where, query in queries().items():
        # given the line type the query selects and the keys those lines really carry
        (line_type,) = TYPE_FILTER.findall(query)
        assert emitted.get(line_type), f"{where}: no {line_type} line was written"
        keys = set().union(*(line.keys() for line in emitted[line_type]))
        # then every message.<key> it names is one of them
        problems += [
            f"{where}: {field} is not a key of {line_type} lines"
            for field in FIELD.findall(query)
            if field not in keys
        ]
    assert not problems, "\n".join(problems)


def test_every_field_a_query_names_is_indexed_for_analytics() -> None:
    (message,) = RESOURCES["LogIndex"]["Properties"]["KeyIndices"]
    assert message["Name"] == "message" and message["Type"] == "json" and message["EnableAnalytics"] is True
    indexed = {key["Name"] for key in message["JsonKeyIndices"] if key["EnableAnalytics"]}
    used = {field for query in queries().values() for field in FIELD.findall(query)}
    assert used <= indexed, used - indexed


def test_the_alert_and_the_escalation_chart_select_exactly_the_statuses_that_need_a_person() -> None:
    human = {status.value for status in HUMAN_STATUSES}
    for where, query in queries().items():
        if "over_budget or" in query:
            assert set(STATUS_SEARCH.findall(query)) == human, where
    chart = queries()["chart 1 (Jobs by cluster)"]
    assert set(STATUS_SQL.findall(chart.split("needs_human")[0])) - {"rerun", "hour"} == human


def test_the_status_chart_has_one_series_per_status() -> None:
    chart = RESOURCES["OpsDashboard"]["Properties"]["Charts"][0]
    assert sorted(chart["display"]["yAxis"]) == sorted(status.value for status in Status)
    assert set(STATUS_SQL.findall(sub_text(chart["search"]["query"]["Fn::Sub"]))) - {"hour"} == {
        s.value for s in Status
    }


def test_queries_select_the_function_s_own_log_topic() -> None:
    evaluated = Evaluation(T, ALL_ON).resources()
    for chart in evaluated["OpsDashboard"]["Properties"]["Charts"]:
        assert chart["search"]["query"].startswith('__topic__: "FCLogs:ehpc-rerun" and '), chart["title"]
        assert chart["search"]["logstore"] == "ehpc-rerun"
    alert = evaluated["NeedsHumanAlert"]["Properties"]["Detail"]
    assert alert["Configuration"]["Dashboard"] == "ehpc-rerun-ops"
    assert alert["Configuration"]["NotificationList"][0]["EmailList"] == [
        "oncall@example.com",
        "hpc-admins@example.com",
    ]


def test_operations_resources_exist_only_with_a_logstore() -> None:
    without = set(Evaluation(T, {"CodeBucket": "b", "AllowClusters": ""}).resources())
    assert not {"LogIndex", "OpsDashboard", "NeedsHumanAlert"} & without
    no_index = set(Evaluation(T, {**ALL_ON, "CreateLogIndex": "false", "AlertEmails": ""}).resources())
    assert "OpsDashboard" in no_index and not {"LogIndex", "NeedsHumanAlert"} & no_index
