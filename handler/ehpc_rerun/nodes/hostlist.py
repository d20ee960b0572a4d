"""A job's ``NodeList`` (as ``ListJobs`` gives it, whatever the scheduler wrote) -> the set of host names.

Forms read, each from its scheduler's documentation:

* lists separated by commas and/or white space: ``compute0,compute1`` / ``compute0 compute1``;
* Slurm hostlist expressions: ``compute[0-3,7]``, zero padding ``node[01-03]`` (each range keeps the width
  of its low end: ``node01,node02,node03``), several bracket groups ``rack[1-2]-node[1-2]``, mixed lists
  ``a[1-2],b3``. Slurm::Hostlist(3pm) (libslurm-perl, e.g. manpages.ubuntu.com/manpages/noble/man3/
  Slurm::Hostlist.3pm.html): "one or more hostnames or bracketed hostlists separated by either `,' or
  whitespace ... a common prefix followed by a list of numeric ranges contained within brackets: e.g.
  tux[0-5,12,20-25]"; several ranges in one name: slurm.conf(5) NodeName, "rack[0-63]_blade[0-41]". The
  3-D form ``bgl[123x456]`` of the same page is not read (a problem is reported);
* PBS ``exec_host``: ``compute0/0*4+compute1/0*4``, ``compute0/0+compute0/1``: "<hostname>/N[*C][+...]
  where N is task slot number ... and C is the number of CPUs" (openpbs/openpbs
  ``doc/man1/pbs_job_attributes.7B``, exec_host): the host is what comes before ``/``;
* PBS ``exec_vnode`` chunks: ``(vnodeA:ncpus=N:mem=X)+(vnodeB:ncpus=P:mem=Y+vnodeC:mem=Z)`` (same page,
  exec_vnode): the vnode names before ``:``. A vnode written ``host[3]`` is taken as vnode 3 of ``host``
  (inference from PBS's naming of multi-vnode hosts; not stated on that page).

Nothing here raises: what can be read is returned in :attr:`ParsedNodes.hosts`, and what could not be
(unbalanced brackets, reversed or absurd ranges, characters no host name has) is said in
:attr:`ParsedNodes.problems`. A caller must treat a list with problems as incomplete. Expansion stops at
:data:`MAX_HOSTS` hosts (a problem says so): ``n[0-999999999]`` must not exhaust the function's memory.

Written by hand rather than with python-hostlist (PyPI) or ClusterShell: those raise on the first bad
token (no partial result), read neither PBS form, and would add a runtime dependency to the package.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

MAX_HOSTS = 10_000  # hosts read from one NodeList; beyond this the rest is not read (a problem says so)
MAX_TEXT = 1_000_000  # characters of NodeList read
MAX_PROBLEMS = 20
MAX_GROUPS = 8  # bracket groups in one name (rack[..]-node[..] has 2)
MAX_HOST_LENGTH = 253  # a DNS name's limit
# Characters that separate or decorate host names in the forms above; no host returned contains one,
# nor any white space.
SEPARATORS = frozenset(",+[]()/*:=")
# Placeholders schedulers print for "no nodes" (e.g. a queued job); a convention, not from a document.
PLACEHOLDERS = frozenset({"", "(null)", "(none)", "none", "null", "n/a", "-", "none assigned"})

_HOST = re.compile(r"[A-Za-z0-9._-]+")
_RANGE = re.compile(r"([0-9]{1,18})(?:-([0-9]{1,18}))?")
_VNODE_INDEX = re.compile(r"\[[0-9]{1,9}\]$")
Range = tuple[int, int, int]  # low, high, width
Segment = str | list[Range]


@dataclass(frozen=True)
class ParsedNodes:
    """The hosts a NodeList names, and why some of it could not be read (empty when all of it was)."""

    hosts: frozenset[str]
    problems: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.problems


class _Reader:
    def __init__(self, max_hosts: int) -> None:
        self.max_hosts = max_hosts
        self.hosts: set[str] = set()
        self.problems: list[str] = []
        self.dropped = 0
        self.generated = 0  # names expanded, duplicates included
        self.full = False  # the cap was reached: stop reading

    def problem(self, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)
        else:
            self.dropped += 1

    def add(self, host: str) -> None:
        if len(self.hosts) >= self.max_hosts:
            if not self.full:
                self.problem(f"more than {self.max_hosts} hosts: the rest of the node list was not read")
            self.full = True
            return
        self.hosts.add(host)

    def result(self) -> ParsedNodes:
        problems = list(self.problems)
        if self.dropped:
            problems.append(f"... and {self.dropped} more problems")
        return ParsedNodes(frozenset(self.hosts), tuple(problems))


def parse_node_list(text: object, *, max_hosts: int = MAX_HOSTS) -> ParsedNodes:
    """The hosts ``text`` names; never raises (see the module docstring for the forms read)."""
    reader = _Reader(max_hosts)
    if text is None:
        return reader.result()
    if not isinstance(text, str):
        reader.problem(f"the node list is a {type(text).__name__}, not text")
        return reader.result()
    if text.strip().lower() in PLACEHOLDERS:
        return reader.result()
    if len(text) > MAX_TEXT:
        reader.problem(f"the node list is {len(text)} characters; only the first {MAX_TEXT} were read")
        text = text[:MAX_TEXT]
    for token in _tokens(text, reader):
        if reader.full:
            break
        _read_token(token, reader)
    return reader.result()


def _tokens(text: str, reader: _Reader) -> Iterator[str]:
    """Split at ``,``, ``+`` and white space outside ``[]`` and ``()`` (a bracket keeps its commas)."""
    token: list[str] = []
    square = paren = 0
    for ch in text:
        if square == 0 and paren == 0 and (ch in ",+" or ch.isspace()):
            if token:
                yield "".join(token)
                token = []
            continue
        if ch == "[":
            square += 1
        elif ch == "]" and square:
            square -= 1
        elif ch == "(":
            paren += 1
        elif ch == ")" and paren:
            paren -= 1
        token.append(ch)
    if token:
        if square or paren:
            reader.problem(f"unbalanced {'[' if square else '('} in {_shown(''.join(token))}: not read")
        else:
            yield "".join(token)


def _read_token(token: str, reader: _Reader) -> None:
    if token.startswith("("):
        if not token.endswith(")") or token.count("(") != 1 or token.count(")") != 1:
            reader.problem(f"not a PBS chunk: {_shown(token)}")
            return
        if token[1:-1].strip().lower() in PLACEHOLDERS:
            return
        for part in token[1:-1].split("+"):
            vnode = _VNODE_INDEX.sub("", part.split(":", 1)[0])
            _read_name(vnode, token, reader, expand=False)
        return
    _read_name(_before_slot(token), token, reader, expand=True)


def _before_slot(token: str) -> str:
    """PBS exec_host ``host/N*C`` (or a stray ``host:res=value``) -> ``host``; brackets keep theirs."""
    depth = 0
    for at, ch in enumerate(token):
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
        elif depth == 0 and ch in "/*:":
            return token[:at]
    return token


def _read_name(name: str, token: str, reader: _Reader, *, expand: bool) -> None:
    if not name:
        reader.problem(f"no host name in {_shown(token)}")
        return
    if "[" not in name and "]" not in name:
        if _valid_host(name):
            reader.add(name)
        else:
            reader.problem(f"not a host name: {_shown(name)}")
        return
    segments = _segments(name, reader) if expand else None
    if segments is None:
        if not expand:
            reader.problem(f"not a host name: {_shown(name)}")
        return
    longest = sum(
        len(s) if isinstance(s, str) else max(max(width, len(str(high))) for _, high, width in s)
        for s in segments
    )
    if longest > MAX_HOST_LENGTH:
        reader.problem(f"names longer than {MAX_HOST_LENGTH} characters in {_shown(name)}: not read")
        return
    for host in _expand(segments, 0, ""):
        reader.add(host)
        reader.generated += 1
        if reader.generated > 4 * reader.max_hosts and not reader.full:  # duplicates: a[1,11][1,11]
            reader.problem(f"{_shown(name)} repeats hosts without end: the rest was not read")
            reader.full = True
        if reader.full:
            return


def _segments(name: str, reader: _Reader) -> list[Segment] | None:
    """``rack[1-2]-node[01-02]`` -> ``["rack", [(1, 2, 1)], "-node", [(1, 2, 2)]]``; None if unreadable."""
    parts = re.split(r"(\[[^\[\]]*\])", name)
    segments: list[Segment] = []
    for part in parts:
        if part.startswith("[") and part.endswith("]") and len(part) >= 2:
            ranges = _ranges(part[1:-1], name, reader)
            if not ranges:
                return None
            segments.append(ranges)
        elif part:
            if "[" in part or "]" in part:
                reader.problem(f"unbalanced or nested brackets in {_shown(name)}: not read")
                return None
            if not _HOST.fullmatch(part):
                reader.problem(f"not a host name: {_shown(name)}")
                return None
            segments.append(part)
    if sum(isinstance(s, list) for s in segments) > MAX_GROUPS:
        reader.problem(f"more than {MAX_GROUPS} bracket groups in {_shown(name)}: not read")
        return None
    return segments


def _ranges(body: str, name: str, reader: _Reader) -> list[Range]:
    """``0-3,7`` -> ``[(0, 3, 1), (7, 7, 1)]``; each bad item is reported and skipped."""
    if "x" in body:
        reader.problem(f"3-D ranges such as {_shown(name)} are not read")
        return []
    ranges: list[Range] = []
    for item in body.split(","):
        match = _RANGE.fullmatch(item)
        if match is None:
            reader.problem(f"not a range: {_shown(item)} in {_shown(name)}")
            continue
        low_text, high_text = match.group(1), match.group(2)
        low, high = int(low_text), int(high_text if high_text is not None else low_text)
        if high < low:
            reader.problem(f"reversed range {low_text}-{high_text} in {_shown(name)}: skipped")
            continue
        ranges.append((low, high, len(low_text)))
    return ranges


def _expand(segments: list[Segment], index: int, prefix: str) -> Iterator[str]:
    """Every name the segments spell, lazily (the caller stops at the cap)."""
    if index == len(segments):
        yield prefix
        return
    segment = segments[index]
    if isinstance(segment, str):
        yield from _expand(segments, index + 1, prefix + segment)
        return
    for low, high, width in segment:
        for number in range(low, high + 1):
            yield from _expand(segments, index + 1, f"{prefix}{number:0{width}d}")


def _valid_host(name: str) -> bool:
    return len(name) <= MAX_HOST_LENGTH and _HOST.fullmatch(name) is not None


def _shown(text: str) -> str:
    """A fragment for a problem message: short, quoted, and encodable (repr escapes lone surrogates)."""
    return repr(text[:40]) + ("..." if len(text) > 40 else "")
