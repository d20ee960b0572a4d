"""E-HPC events from EventBridge: a node event names the clusters to check; other E-HPC events are ignored."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ehpc_rerun.models import CLUSTER_ID_PATTERN, Acknowledged, RecordError, SourceKind
from ehpc_rerun.sources.base import NodeCheck
from ehpc_rerun.sources.ehpc_events import CLUSTER_ID_IN_TEXT, EhpcEventsSource, cluster_ids_in

from .conftest import CLUSTER, acks_of, errors_of, jobs, load_event_json, unwrap

OTHER = "ehpc-sh-Other02"
STATUS_CHANGE = "ehpc:NodeOperation:NodeStatusChange"


def ehpc_event(
    etype: str = STATUS_CHANGE, data: Any = None, *, event_id: str = "ev-ehpc-1", **fields: Any
) -> dict[str, Any]:
    """A CloudEvent as EventBridge documents the envelope; source, subject and data are invented."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": "acs.ehpc",
        "type": etype,
        "time": "2026-11-30T08:15:02.311Z",
        "aliyunregionid": "cn-hangzhou",
        **fields,
    }
    if data is not None:
        event["data"] = data
    return event


def checks_of(event: Any) -> list[NodeCheck]:
    return list(unwrap(event).node_checks)


# --- where the cluster id is -------------------------------------------------------------------------


def test_sample_node_event_names_its_cluster_once() -> None:
    # given the events/ sample (the id in subject and in data)
    result = unwrap(load_event_json("eventbridge-ehpc-node-status.json"))
    # then one check of that cluster, with the region and the CloudEvent's id and type, and no record
    assert result.kind is SourceKind.EHPC_NODE
    assert result.records == []
    assert result.node_checks == [
        NodeCheck("ehpc-hz-demo01", "cn-hangzhou", "4c0e2b7a-1f3d-4a8e-9b61-2d5f0c7e8a93", STATUS_CHANGE)
    ]


def test_cluster_id_in_the_subject_only() -> None:
    # given a node event whose data says nothing about the cluster
    event = ehpc_event(data={"status": "exception"}, subject=f"acs:ehpc:cn-hangzhou:1649:cluster/{CLUSTER}")
    # then the subject's cluster is checked
    assert checks_of(event) == [NodeCheck(CLUSTER, "cn-hangzhou", "ev-ehpc-1", STATUS_CHANGE)]


def test_cluster_id_in_data_only() -> None:
    event = ehpc_event("ehpc:NodeOperation:NodeStopped", {"ClusterId": CLUSTER, "InstanceId": "i-bp1x"})
    assert checks_of(event) == [
        NodeCheck(CLUSTER, "cn-hangzhou", "ev-ehpc-1", "ehpc:NodeOperation:NodeStopped")
    ]


def test_cluster_id_nested_deep_in_data() -> None:
    data = {
        "detail": {
            "resources": [{"kind": "node"}, {"arn": f"acs:ehpc:cn-hangzhou:1649:cluster/{CLUSTER}/node/x"}]
        }
    }
    assert [c.cluster_id for c in checks_of(ehpc_event(data=data))] == [CLUSTER]


def test_two_clusters_give_two_checks_in_order_and_repeats_count_once() -> None:
    # given an event naming two clusters, one of them three times
    event = ehpc_event(data={"from": CLUSTER, "to": OTHER, "nodes": [{"cluster": CLUSTER}]}, subject=CLUSTER)
    # then one check per distinct cluster, in the order they first appear
    checks = checks_of(event)
    assert [c.cluster_id for c in checks] == [CLUSTER, OTHER]
    assert {c.event_id for c in checks} == {"ev-ehpc-1"}


def test_no_cluster_id_anywhere_is_rejected_saying_so() -> None:
    # given a node event in which no string looks like ehpc-<region code>-<id>
    result = unwrap(
        ehpc_event("ehpc:NodeOperation:NodeDeleted", {"hostName": "compute3"}, subject="acs:ehpc")
    )
    # then no check, and one rejected record naming the type and what was looked for
    assert result.node_checks == []
    [error] = errors_of(result)
    assert isinstance(error, RecordError)
    assert (error.source, error.code, error.source_id, error.index) == (
        SourceKind.EHPC_NODE,
        "NoClusterId",
        "ev-ehpc-1",
        0,
    )
    assert "ehpc:NodeOperation:NodeDeleted" in error.message
    assert "ehpc-<region code>-<id>" in error.message


# --- unknown shapes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        f"node compute3 of {CLUSTER} is down",  # data a string
        json.dumps({"clusterId": CLUSTER}),  # data JSON as text
        [["x", {"deep": [CLUSTER]}]],  # data a list
        {CLUSTER: {"status": "stopped"}},  # the id only as a key
        42,
    ],
    ids=["string", "json-text", "list", "key", "number-elsewhere"],
)
def test_node_event_of_an_unknown_shape_still_finds_the_cluster(data: Any) -> None:
    # given data of no documented shape (the last one has the id in an odd top-level field instead)
    event = ehpc_event(data=data, aliyunextension=f"cluster={CLUSTER};node=compute3")
    # then the cluster is found all the same
    assert [c.cluster_id for c in checks_of(event)] == [CLUSTER]


def test_node_event_without_data_or_id_or_region_still_checks() -> None:
    event = {"specversion": "1.0", "type": "ehpc:NodeOperation:NodeStopped", "subject": f"cluster/{CLUSTER}"}
    assert checks_of(event) == [NodeCheck(CLUSTER, None, None, "ehpc:NodeOperation:NodeStopped")]


@pytest.mark.parametrize("region", ["", "not a region", 5, "CN-HANGZHOU"])
def test_a_region_that_is_not_a_region_id_is_left_out(region: Any) -> None:
    assert checks_of(ehpc_event(data={"c": CLUSTER}, aliyunregionid=region))[0].region is None


@pytest.mark.parametrize(
    "text",
    [
        "ehpc-cn-hangzhou-1",  # a region name, not a cluster id
        "xehpc-hz-abc",
        "ehpc-hz-abc_def-",
        "EHPC-HZ-ABC",
        "ehpc-vpc.cn-hangzhou.aliyuncs.com",
        "ehpc-h-abc",  # region code too short
        "ehpc-hz-" + "a" * 41,  # id too long
    ],
)
def test_lookalikes_are_not_cluster_ids(text: str) -> None:
    assert cluster_ids_in({"subject": text}) == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"acs:ehpc:cn-hangzhou:1649:cluster/{CLUSTER}", CLUSTER),
        (f"{CLUSTER},{OTHER}", CLUSTER),
        (f"({CLUSTER})", CLUSTER),
        ("ehpc-hz-" + "a" * 40, "ehpc-hz-" + "a" * 40),
    ],
)
def test_cluster_ids_are_found_inside_text(text: str, found: str) -> None:
    match = CLUSTER_ID_IN_TEXT.search(text)
    assert match is not None and match.group(0) == found


# --- other E-HPC events ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "etype",
    [
        "ehpc:ClusterOperation:ClusterStatusChange",
        "ehpc:Instant:ExecutorFinished",
        "ehpc:ActionTrail:ApiCall",
    ],
)
def test_other_ehpc_event_types_are_acknowledged_naming_the_type(etype: str) -> None:
    # given an E-HPC event that is not a node event, even one that names a cluster
    result = unwrap(ehpc_event(etype, {"clusterId": CLUSTER}))
    # then acknowledged (ignored), naming the type, and no check
    assert result.kind is SourceKind.EHPC_NODE
    assert result.node_checks == []
    [ack] = acks_of(result)
    assert isinstance(ack, Acknowledged)
    assert (ack.source, ack.source_id) == (SourceKind.EHPC_NODE, "ev-ehpc-1")
    assert etype in ack.message


def test_a_custom_event_with_an_ehpc_prefix_stays_a_custom_request() -> None:
    # given a custom event type that is none of E-HPC's families, carrying our request as data
    event = ehpc_event("ehpc:Custom:Rerun", {"cluster_id": CLUSTER, "job_ids": ["3.s"]}, source="my.app")
    # then the generic CloudEvents source reads it as before: a request, no check
    assert not EhpcEventsSource().matches(event)
    result = unwrap([event])
    assert result.kind is SourceKind.EVENTBRIDGE
    assert jobs(result) == [(CLUSTER, ("3.s",))]
    assert result.node_checks == []


def test_event_type_is_matched_without_regard_to_case() -> None:
    assert [
        c.cluster_id for c in checks_of(ehpc_event("EHPC:nodeoperation:NodeStopped", {"c": CLUSTER}))
    ] == [CLUSTER]


# --- batches ---------------------------------------------------------------------------------------------


def kafka(job: str, event_id: str) -> dict[str, Any]:
    value = {"cluster_id": CLUSTER, "job_ids": [job]}
    return {
        "specversion": "1.0",
        "id": event_id,
        "type": "alikafka:Topic:Message",
        "data": {"partition": 0, "value": value},
    }


def test_mixed_batch_hands_the_other_events_on_and_keeps_their_index() -> None:
    # given a batch: a Kafka request, a node event, a broken element, a non-node E-HPC event, a Kafka request
    batch = [
        kafka("1.s", "k1"),
        ehpc_event(data={"c": OTHER}, event_id="n1"),
        {"not": "a cloudevent"},
        ehpc_event("ehpc:ClusterOperation:ClusterStarted", event_id="c1"),
        kafka("2.s", "k2"),
    ]
    # when unwrapped
    result = unwrap(batch)
    # then the requests, the check, the ack, and the broken element's error at its own index 2
    assert result.kind is SourceKind.EVENTBRIDGE  # several products in one delivery
    assert jobs(result) == [(CLUSTER, ("1.s",)), (CLUSTER, ("2.s",))]
    assert [(c.cluster_id, c.event_id) for c in result.node_checks] == [(OTHER, "n1")]
    [error] = errors_of(result)
    assert (error.index, error.code) == (2, "InvalidEvent")
    assert [a.source_id for a in acks_of(result)] == ["c1"]
    assert len(result.records) == 4  # every element accounted for except the check


def test_batch_of_node_events_only_is_an_ehpc_delivery() -> None:
    batch = [ehpc_event(data={"c": CLUSTER}, event_id="a"), ehpc_event(data={"c": OTHER}, event_id="b")]
    result = unwrap(batch)
    assert result.kind is SourceKind.EHPC_NODE
    assert [(c.cluster_id, c.event_id) for c in result.node_checks] == [(CLUSTER, "a"), (OTHER, "b")]


def test_node_event_as_json_text_in_a_string_batch() -> None:
    # given a Kafka-style batch of CloudEvent strings, one of them an E-HPC node event
    batch = [json.dumps(kafka("1.s", "k1")), json.dumps(ehpc_event(data={"c": CLUSTER})), "not json {"]
    result = unwrap(batch)
    # then the request, the check, and the broken string's error at index 2
    assert jobs(result) == [(CLUSTER, ("1.s",))]
    assert [c.cluster_id for c in result.node_checks] == [CLUSTER]
    assert [e.index for e in errors_of(result)] == [2]


def test_batch_without_ehpc_events_is_left_to_the_generic_source() -> None:
    batch = [
        kafka("1.s", "k1"),
        json.dumps({"specversion": "1.0", "type": "mns:Queue:SendMessage", "data": {}}),
    ]
    assert not EhpcEventsSource().matches(batch)
    assert unwrap(batch).node_checks == []


def test_a_huge_event_is_searched_within_bounds() -> None:
    # given a node event with 50 000 strings and nesting far deeper than the search goes
    deep: Any = CLUSTER
    for _ in range(200):
        deep = [deep]
    event = ehpc_event(data={"many": ["x"] * 50_000, "deep": deep})
    # then it is unwrapped (no cluster found within the bounds), not a crash
    result = unwrap(event)
    assert result.node_checks == []
    assert [e.code for e in errors_of(result)] == ["NoClusterId"]


# --- property -------------------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=30),
        st.sampled_from([CLUSTER, OTHER, f"cluster/{CLUSTER}", "ehpc-hz-", "ehpc-cn-hangzhou-1"]),
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    data=json_values,
    etype=st.sampled_from([STATUS_CHANGE, "ehpc:NodeOperation:NodeDeleted", "ehpc:Instant:CreateJob"]),
)
def test_any_data_gives_valid_checks_or_one_record(data: Any, etype: str) -> None:
    # given an E-HPC event with any data at all
    result = unwrap([ehpc_event(etype, data), kafka("1.s", "k1")])
    # then every check names a well-formed cluster id found in the event, or the event has one record
    for check in result.node_checks:
        assert re.fullmatch(CLUSTER_ID_PATTERN, check.cluster_id)
        assert check.cluster_id in json.dumps(data)
    assert bool(result.node_checks) != any(
        r.source is SourceKind.EHPC_NODE for r in result.records if isinstance(r, (RecordError, Acknowledged))
    )
    assert jobs(result) == [(CLUSTER, ("1.s",))]


def test_more_clusters_than_one_event_may_name_are_checked_up_to_the_limit_and_reported() -> None:
    # given a node event naming 150 clusters
    event = ehpc_event(data={"clusters": [f"ehpc-hz-c{n:03d}" for n in range(150)]})
    # then the first 100 are checked and a rejected record says the rest were left out
    result = unwrap(event)
    assert [c.cluster_id for c in result.node_checks] == [f"ehpc-hz-c{n:03d}" for n in range(100)]
    [error] = errors_of(result)
    assert error.code == "TooManyClusters"
    assert "more than 100" in error.message
