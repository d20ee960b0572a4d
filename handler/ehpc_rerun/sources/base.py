"""The source contract: each trigger kind infers whether an event is its own and unwraps it.

As in Mangum, every source answers ``matches(event)`` by looking at the event's shape (never at an exact
``source`` string, which differs per trigger name); the first source that matches unwraps the event
into records: :class:`RerunRequest`, :class:`RecordError` (one bad record never sinks the batch) or
:class:`Acknowledged` (understood, nothing to do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ehpc_rerun.models import Acknowledged, JobOutcome, RecordError, RerunRequest, SourceKind
from ehpc_rerun.settings import Settings

# JobOutcome: a finding reported as it is (e.g. the detector's unparseable_time), no decision needed.
Record = RerunRequest | RecordError | Acknowledged | JobOutcome


@dataclass(frozen=True)
class HttpReply:
    """For the HTTP trigger: a reply decided before any pipeline step (health, auth, 4xx)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeCheck:
    """An E-HPC node event names a cluster: check its nodes and rerun the jobs stranded on failed ones.

    Only the cluster is known from the event (E-HPC's node event ``data`` is undocumented:
    :mod:`.ehpc_events`); the check itself (ListNodes + ListJobs) is built from this downstream.
    """

    cluster_id: str
    region: str | None  # the event's ``aliyunregionid``, when it is a region id
    event_id: str | None  # the CloudEvent ``id`` (a redelivery repeats it)
    event_type: str  # e.g. ``ehpc:NodeOperation:NodeStatusChange``


@dataclass(frozen=True)
class HistoryQuery:
    """``GET /jobs/{cluster_id}/{job_id}``: the caller asks why (and when) a job was rerun.

    Validated and authenticated by the source; answered from the state store by the handler
    (:func:`ehpc_rerun.policy.job_history.answer_http`), since no source touches the store."""

    cluster_id: str
    job_id: str
    region: str | None  # ``?region=``; None: the function's region


@dataclass
class Unwrapped:
    """What a source made of an event."""

    kind: SourceKind
    records: Sequence[Record] = field(default_factory=list)
    http: bool = False  # the caller waits for an HTTP response
    reply: HttpReply | None = None  # set when the HTTP request ends before the pipeline
    scan: dict[str, Any] | None = None  # an explicit detector scan request
    replay_key: str | None = None  # HTTP anonymous mode: claim once in the state store
    node_checks: list[NodeCheck] = field(default_factory=list)  # E-HPC node events: clusters to check
    history_query: HistoryQuery | None = None  # GET /jobs/{cluster_id}/{job_id}: answered from the store


class Source(Protocol):
    kind: SourceKind

    def matches(self, event: Any) -> bool:
        """Is this parsed event this source's shape?"""
        ...

    def unwrap(self, event: Any, settings: Settings) -> Unwrapped: ...
