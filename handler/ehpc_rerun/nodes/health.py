"""Which nodes are unhealthy, and which job hosts they are: the node check's pure decisions (no I/O).

A node is **unhealthy** when

* its ListNodes ``Status`` (lower case) is in ``EHPC_RERUN_UNHEALTHY_NODE_STATUSES`` (default
  ``exception``: "an exception occurred on the node"), or
* E-HPC still counts it in service (``Status`` ``running``, or a value ListNodes does not document) and
  one of the scheduler's states in ``StateInSched`` is in ``EHPC_RERUN_UNHEALTHY_SCHED_STATES``.

A node E-HPC has taken out of service -- ``stopped``, ``releasing``, ``untracking``, ``uninit``,
``initing``, unless the setting lists that status -- is **out of service on purpose** (an operator's
StopNodes/DeleteNodes, or a node still being installed), whatever its scheduler shows: a stopped node is
``down`` to the scheduler too, and rerunning the jobs someone stopped it under is not ours to decide.

``StateInSched`` "varies with the scheduler" (SDK ListNodesResponseBodyNodesNodeInfo.state_in_sched); it
is read as one or more states, compared in lower case:

* Slurm (sinfo(1), "NODE STATE CODES"): a state with a suffix flag -- ``*`` "not responding", ``~``
  powered off, ``#`` powering up, ``%`` powering down, ``!`` pending power down, ``$`` maintenance
  reservation, ``@`` pending reboot, ``^`` rebooting, ``-`` planned by the backfill scheduler -- is the
  state without it; ``*`` also adds the state ``not_responding``. scontrol's joined flags ``DOWN+DRAIN``
  are read as two states;
* PBS (pbsnodes(8B), ``state``): a comma list such as ``down,offline`` or ``state-unknown,down``;
* anything else: the text itself, lower case, split at white space.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ehpc_rerun.ehpc.client import NodeInfo

# ListNodes' documented Status values other than running and exception (SDK models.py)
OUT_OF_SERVICE = ("stopped", "releasing", "untracking", "uninit", "initing")
SLURM_FLAGS = "*~#%!$@^-"
_STATE_SPLIT = re.compile(r"[,+\s]+")


@dataclass(frozen=True)
class Verdict:
    """One node, and why it counts as unhealthy (``why`` empty: healthy or out of service on purpose)."""

    node: NodeInfo
    why: str = ""
    on_purpose: bool = False

    @property
    def unhealthy(self) -> bool:
        return bool(self.why)


def sched_states(text: str) -> list[str]:
    """``"down*"`` -> ``["down", "not_responding"]``; ``"Down,Offline"`` -> ``["down", "offline"]``."""
    states: list[str] = []
    for token in _STATE_SPLIT.split(text.strip().lower()):
        if not token:
            continue
        bare = token.rstrip(SLURM_FLAGS) or token
        states.append(bare)
        if "*" in token[len(bare) :]:
            states.append("not_responding")
    return list(dict.fromkeys(states))


def judge(node: NodeInfo, statuses: Sequence[str], sched: Sequence[str]) -> Verdict:
    status = node.status.strip().lower()
    if status in {s.lower() for s in statuses}:
        return Verdict(node, f"Status {status}")
    if status in OUT_OF_SERVICE:
        return Verdict(node, on_purpose=True)
    wanted = {s.lower() for s in sched}
    bad = [state for state in sched_states(node.state_in_sched) if state in wanted]
    if bad:
        return Verdict(node, f"StateInSched {node.state_in_sched.strip()!r} ({', '.join(bad)})")
    return Verdict(node)


def normalise(host: str) -> str:
    return host.strip().rstrip(".").lower()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _short(name: str) -> tuple[str, str]:
    """``compute3.cluster.local`` -> (``compute3``, ``cluster.local``); an IP address stays whole."""
    if _is_ip(name):
        return name, ""
    short, _, domain = name.partition(".")
    return short, domain


class HostIndex:
    """The unhealthy nodes by name: a job host matches a node by its HostName or IpAddress, in any case;
    a short name matches a fully qualified one (``compute3`` = ``compute3.ehpc.local``), but two fully
    qualified names must be equal (``compute3.a`` is not ``compute3.b``)."""

    def __init__(self, verdicts: Iterable[Verdict]) -> None:
        self._by_short: dict[str, list[tuple[str, Verdict]]] = {}
        for verdict in verdicts:
            names = {normalise(verdict.node.host_name), normalise(verdict.node.ip_address)} - {""}
            for name in names:
                self._by_short.setdefault(_short(name)[0], []).append((name, verdict))

    def __bool__(self) -> bool:
        return bool(self._by_short)

    def match(self, host: str) -> Verdict | None:
        name = normalise(host)
        short, domain = _short(name)
        for candidate, verdict in self._by_short.get(short, []):
            if candidate == name or not domain or not _short(candidate)[1]:
                return verdict
        return None
