"""E-HPC events from EventBridge: a node event says which cluster to check, nothing more.

E-HPC publishes cluster and node events to EventBridge (EventBridge user guide, "E-HPC events",
alibabacloud.com/help/en/eventbridge/user-guide/e-hpc-events; production.md "E-HPC 2018-04-12 limits and
facts"): ``ehpc:NodeOperation:NodeStatusChange``, ``NodeStopped``, ``NodeDeleted``, ... Their envelope is a
CloudEvent (fc-events.md §2.3), but their ``source``, ``subject`` and ``data`` fields are documented nowhere
we could read. So nothing here relies on a field name:

* ``type`` starting with ``ehpc:NodeOperation:``: every distinct cluster id found anywhere in the event (any
  string, keys included, at any depth, ``data`` being an object, a list or a string) becomes a
  :class:`~.base.NodeCheck`; the region is ``aliyunregionid`` when it is a region id. No cluster id at all
  is a rejected record saying so. What the check does (ListNodes, then ListJobs, then the jobs on failed
  nodes) is decided downstream, not from the event;
* E-HPC's other event families, ``ehpc:ClusterOperation:``, ``ehpc:Instant:`` and ``ehpc:ActionTrail:``
  (the same page), are acknowledged as ``ignored``, naming the type.

Only those four documented families are E-HPC's: any other ``ehpc:...`` type (e.g. ``ehpc:Custom:Rerun``,
a custom event someone publishes with our request as ``data``) stays a custom event of
:mod:`.cloudevents`, as it was before E-HPC events were read.

Batches: a delivery that holds at least one E-HPC CloudEvent (object, or JSON text as in the Kafka string
batches of :mod:`.cloudevents`) is claimed here; its other elements are handed, in runs, to the generic
:class:`~.cloudevents.CloudEventsSource`, and its records keep their index in the whole batch. So
:mod:`.detect` asks this source before the generic one, which stays unaware of E-HPC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from ehpc_rerun.models import (
    CLUSTER_ID_PATTERN,
    REGION_PATTERN,
    Acknowledged,
    RecordError,
    SourceKind,
    printable,
)
from ehpc_rerun.settings import Settings

from .base import NodeCheck, Record, Unwrapped
from .cloudevents import MAX_EVENTS, CloudEventsSource

EHPC_TYPE_PREFIX = "ehpc:"
NODE_TYPE_PREFIX = "ehpc:nodeoperation:"  # types are compared in lower case
EHPC_FAMILIES = (NODE_TYPE_PREFIX, "ehpc:clusteroperation:", "ehpc:instant:", "ehpc:actiontrail:")
# models.CLUSTER_ID_PATTERN without its anchors, and not inside a longer word: ehpc-hz-abc in a subject
# such as "acs:ehpc:cn-hangzhou:<uid>:cluster/ehpc-hz-abc", not in "xehpc-hz-abc", "ehpc-hz-abc_x" or
# "ehpc-cn-hangzhou-1".
_WORD = "[A-Za-z0-9_-]"
CLUSTER_ID_IN_TEXT = re.compile(f"(?<!{_WORD})" + CLUSTER_ID_PATTERN.strip("^$") + f"(?!{_WORD})")
_REGION = re.compile(REGION_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_DEPTH = 32  # how deep the search for cluster ids goes
MAX_STRINGS = 10_000  # strings searched in one event
MAX_CLUSTERS = 100  # clusters one event may name
_GENERIC = CloudEventsSource()


def is_ehpc_event(item: Any) -> bool:
    """A CloudEvent (``specversion``) of one of E-HPC's event families; ``data`` may be absent."""
    return (
        isinstance(item, dict)
        and "specversion" in item
        and isinstance(item.get("type"), str)
        and item["type"].lower().startswith(EHPC_FAMILIES)
    )


def _ehpc_event_from_text(item: str) -> dict[str, Any] | None:
    if not item.lstrip().startswith("{") or EHPC_TYPE_PREFIX not in item.lower():
        return None
    try:
        parsed = json.loads(item)
    except (ValueError, RecursionError):
        return None
    return parsed if is_ehpc_event(parsed) else None


def _might_be_ehpc(item: Any) -> bool:
    """For ``matches``: cheap (no parse of JSON text; ``unwrap`` parses and hands non-E-HPC on)."""
    if isinstance(item, str):
        return item.lstrip().startswith("{") and '"specversion"' in item and EHPC_TYPE_PREFIX in item.lower()
    return is_ehpc_event(item)


class EhpcEventsSource:
    kind = SourceKind.EHPC_NODE

    def matches(self, event: Any) -> bool:
        if isinstance(event, list):
            return len(event) <= MAX_EVENTS and any(_might_be_ehpc(item) for item in event)
        return is_ehpc_event(event)

    def unwrap(self, event: Any, settings: Settings) -> Unwrapped:
        items: list[Any] = event if isinstance(event, list) else [event]
        records: list[Record] = []
        checks: list[NodeCheck] = []
        kinds: set[SourceKind] = set()
        run_start: int | None = None  # first index of the current run of other elements

        def hand_on_run(end: int) -> None:
            nonlocal run_start
            if run_start is not None:
                other = _GENERIC.unwrap(items[run_start:end], settings)
                kinds.add(other.kind)
                records.extend(_shifted(other.records, run_start))
                run_start = None

        for index, item in enumerate(items):
            ehpc = _as_ehpc_event(item)
            if ehpc is None:
                run_start = index if run_start is None else run_start
                continue
            hand_on_run(index)
            kinds.add(self.kind)
            found, record = _unwrap_one(ehpc, index)
            checks.extend(found)
            if record is not None:
                records.append(record)
        hand_on_run(len(items))
        overall = kinds.pop() if len(kinds) == 1 else SourceKind.EVENTBRIDGE
        return Unwrapped(overall, records, node_checks=checks)


def _as_ehpc_event(item: Any) -> dict[str, Any] | None:
    if isinstance(item, str):
        return _ehpc_event_from_text(item)
    return item if is_ehpc_event(item) else None


def _shifted(records: Sequence[Record], offset: int) -> list[Record]:
    """Records of a run handed to the generic source, with their index in the whole batch."""
    if not offset:
        return list(records)
    return [
        r.model_copy(update={"index": r.index + offset})
        if isinstance(r, RecordError) and r.index is not None
        else r
        for r in records
    ]


def _unwrap_one(event: dict[str, Any], index: int) -> tuple[list[NodeCheck], Record | None]:
    etype = _CONTROL.sub(" ", printable(str(event["type"])))[:128]
    event_id = _text(event.get("id"))
    if not etype.lower().startswith(NODE_TYPE_PREFIX):
        message = f"E-HPC event {etype} is not a node event: nothing to rerun"
        return [], Acknowledged(source=SourceKind.EHPC_NODE, source_id=event_id, message=message)
    clusters = cluster_ids_in(event)
    if not clusters:
        return [], RecordError(
            source=SourceKind.EHPC_NODE,
            source_id=event_id,
            index=index,
            code="NoClusterId",
            message=f"E-HPC node event {etype} names no cluster id (ehpc-<region code>-<id>) in its first "
            f"{MAX_STRINGS} strings, {MAX_DEPTH} levels deep, so no cluster can be checked; if E-HPC sends "
            "its events in another shape, report a sample",
        )
    region = event.get("aliyunregionid")
    region = region if isinstance(region, str) and _REGION.fullmatch(region) else None
    checks = [NodeCheck(cluster, region, event_id, etype) for cluster in clusters[:MAX_CLUSTERS]]
    if len(clusters) <= MAX_CLUSTERS:
        return checks, None
    return checks, RecordError(
        source=SourceKind.EHPC_NODE,
        source_id=event_id,
        index=index,
        code="TooManyClusters",
        message=f"E-HPC node event {etype} names more than {MAX_CLUSTERS} cluster ids: only the first "
        f"{MAX_CLUSTERS} are checked",
    )


def cluster_ids_in(event: Any) -> list[str]:
    """The distinct cluster ids in the event's strings (keys too), in the order they first appear.

    At most ``MAX_CLUSTERS + 1``: one more than an event may name, so that the excess can be reported.
    """
    found: dict[str, None] = {}
    for text in _strings(event, 0, [0]):
        for match in CLUSTER_ID_IN_TEXT.finditer(text):
            found.setdefault(match.group(0))
            if len(found) > MAX_CLUSTERS:  # one more than checked: the caller says some were left out
                return list(found)
    return list(found)


def _strings(value: Any, depth: int, budget: list[int]) -> Iterator[str]:
    """The strings in a parsed JSON value, depth first, at most MAX_DEPTH deep and MAX_STRINGS many."""
    if budget[0] >= MAX_STRINGS:
        return
    if isinstance(value, str):
        budget[0] += 1
        yield value
    elif depth < MAX_DEPTH and isinstance(value, dict):
        for key, inner in value.items():
            yield from _strings(str(key), depth + 1, budget)
            yield from _strings(inner, depth + 1, budget)
    elif depth < MAX_DEPTH and isinstance(value, list):
        for inner in value:
            yield from _strings(inner, depth + 1, budget)


def _text(value: Any) -> str | None:
    return printable(str(value))[:256] if value not in (None, "") else None
