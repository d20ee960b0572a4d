"""The lock files ``locks/fc-<runtime>.txt``: reading, writing and checking them against pyproject.toml.

A lock is a pip requirements file: one ``name==version`` per distribution with the sha256 of every wheel
pip may install for that runtime, then a ``# via a, b`` line (what needs it; ``ehpc-rerun`` is
pyproject.toml). ``scripts/lock.py`` writes it; ``scripts/build_package.py`` installs exactly it; the
checks here (run by ``tests/deploy/test_lock.py``, offline) say when pyproject.toml and a lock disagree.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: pip carries tomli, the parser tomllib came from
    from pip._vendor import tomli as tomllib
try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[assignment,no-redef,unused-ignore]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[assignment,no-redef,unused-ignore]

PROJECT = "ehpc-rerun"  # how a lock's ``# via`` names pyproject.toml


@dataclass
class Pin:
    name: str  # canonical
    version: str
    hashes: list[str] = field(default_factory=list)  # "sha256:<hex>"
    via: list[str] = field(default_factory=list)  # canonical names, PROJECT for pyproject.toml


@dataclass
class Lock:
    pins: dict[str, Pin]
    options: list[str]  # lines such as "--find-links wheels"


def read_dependencies(pyproject: Path) -> list[str]:
    with pyproject.open("rb") as fh:
        data = tomllib.load(fh)
    deps = data.get("project", {}).get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise SystemExit(f"{pyproject}: [project].dependencies must be a list of strings")
    return list(deps)


def _logical_lines(text: str) -> Iterable[str]:
    buffer = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        yield (buffer + line).strip()
        buffer = ""
    if buffer:
        yield buffer.strip()


def parse_lock(text: str) -> Lock:
    pins: dict[str, Pin] = {}
    options: list[str] = []
    last: Pin | None = None
    for logical in _logical_lines(text):
        code, _, comment = logical.partition("#")
        code = code.strip()
        if code.startswith("-"):
            options.append(code)
        elif code:
            spec, *hash_parts = code.split(" --hash=")
            req = Requirement(spec)
            pinned = [s for s in req.specifier if s.operator == "=="]
            if len(pinned) != 1 or len(req.specifier) != 1 or req.marker is not None:
                raise ValueError(f"lock line {code[:80]!r}: expected exactly `name==version` (no marker)")
            last = Pin(canonicalize_name(req.name), pinned[0].version, [h.strip() for h in hash_parts])
            if last.name in pins:
                raise ValueError(f"lock pins {last.name} twice")
            pins[last.name] = last
        comment = comment.strip()
        if last is not None and comment.startswith("via "):  # "# via a, b": after the pin or on its own line
            names = [
                v.split(" (")[0].strip() for v in comment[4:].split(",")
            ]  # "ehpc-rerun (pyproject.toml)"
            last.via += [canonicalize_name(n) for n in names if n]
    return Lock(pins, options)


def read_lock(path: Path) -> Lock:
    return parse_lock(path.read_text(encoding="utf-8"))


def render_lock(header: Sequence[str], lock: Lock) -> str:
    lines = [f"# {h}".rstrip() for h in header]
    lines += [*lock.options, ""] if lock.options else []
    for pin in sorted(lock.pins.values(), key=lambda p: p.name):
        hashes = [f"    --hash={h}" for h in sorted(pin.hashes)]
        lines.append(" \\\n".join([f"{pin.name}=={pin.version}", *hashes]))
        lines.append(f"    # via {', '.join(sorted(pin.via))}")
    return "\n".join(lines) + "\n"


def disagreements(dependencies: Sequence[str], lock: Lock, env: Mapping[str, str]) -> list[str]:
    """Every way ``lock`` fails to be the resolution of ``dependencies`` on the target ``env`` (offline).

    - each dependency whose marker holds is pinned, at a version its specifier allows, ``via`` pyproject;
    - a pin ``via`` pyproject is one of those dependencies (nothing stale left from a removed one);
    - every pin is reached from pyproject through ``via`` (no orphan), names only pins of the lock,
      and has at least one hash.
    """
    problems: list[str] = []
    wanted: dict[str, Requirement] = {}
    for line in dependencies:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(dict(env)):
            wanted[canonicalize_name(req.name)] = req
    for name, req in sorted(wanted.items()):
        pin = lock.pins.get(name)
        if pin is None:
            problems.append(f"{req} (pyproject.toml) is not in the lock")
            continue
        if not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{req} (pyproject.toml) does not allow the locked {name}=={pin.version}")
        if PROJECT not in pin.via:
            problems.append(f"{name} is in pyproject.toml but the lock does not say it is needed via it")
    for pin in sorted(lock.pins.values(), key=lambda p: p.name):
        if PROJECT in pin.via and pin.name not in wanted:
            problems.append(
                f"{pin.name}=={pin.version} is locked via pyproject.toml, which no longer asks for it"
            )
        unknown = [v for v in pin.via if v != PROJECT and v not in lock.pins]
        if unknown:
            problems.append(f"{pin.name} is locked via {', '.join(unknown)}, which the lock does not pin")
        if not pin.hashes:
            problems.append(f"{pin.name}=={pin.version} has no hash")
    reached = _reached(lock)
    orphans = sorted(set(lock.pins) - reached)
    problems += [f"{name}=={lock.pins[name].version} is not needed by anything" for name in orphans]
    return problems


def _reached(lock: Lock) -> set[str]:
    """Names reachable from pyproject.toml, following ``via`` backwards (X via Y: Y needs X)."""
    needs: dict[str, set[str]] = {}
    for pin in lock.pins.values():
        for parent in pin.via:
            needs.setdefault(parent, set()).add(pin.name)
    reached: set[str] = set()
    queue = [PROJECT]
    while queue:
        for child in needs.get(queue.pop(), set()):
            if child not in reached and child != PROJECT:
                reached.add(child)
                queue.append(child)
    return reached
