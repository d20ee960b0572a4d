"""Checks of what ``pip install --target`` staged for an FC runtime, before it is zipped.

Each check names the distribution and why it cannot run on the runtime:

- it was not in the lock, or not at the locked version (the build installs exactly the lock);
- its ``Requires-Python`` excludes the runtime (read at X.Y.0: FC's patch release is not documented);
- none of its wheel tags (``*.dist-info/WHEEL``) is one the runtime supports;
- a ``Requires-Dist`` that applies on the runtime (markers judged for it, not for the interpreter
  running the build) is not staged, or not at an allowed version: the lock is incomplete.
"""

from __future__ import annotations

import email.parser
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.tags import Tag, parse_tag
    from packaging.utils import canonicalize_name
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[assignment,no-redef,unused-ignore]
    from pip._vendor.packaging.specifiers import SpecifierSet  # type: ignore[assignment,no-redef,unused-ignore]
    from pip._vendor.packaging.tags import Tag, parse_tag  # type: ignore[assignment,no-redef,unused-ignore]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[assignment,no-redef,unused-ignore]


@dataclass(frozen=True)
class StagedDist:
    name: str  # canonical
    version: str
    requires_python: str | None
    requires: tuple[Requirement, ...]
    tags: frozenset[Tag]  # empty when there is no WHEEL file


def staged_distributions(staging: Path) -> dict[str, StagedDist]:
    parser = email.parser.HeaderParser()
    found: dict[str, StagedDist] = {}
    for info in sorted(staging.glob("*.dist-info")):
        meta = parser.parsestr((info / "METADATA").read_text(encoding="utf-8"))
        wheel = info / "WHEEL"
        tags: set[Tag] = set()
        if wheel.is_file():
            for tag in parser.parsestr(wheel.read_text(encoding="utf-8")).get_all("Tag") or []:
                tags |= parse_tag(tag.strip())
        name = canonicalize_name(meta["Name"])
        found[name] = StagedDist(
            name,
            meta["Version"],
            meta.get("Requires-Python"),
            tuple(Requirement(r) for r in meta.get_all("Requires-Dist") or []),
            frozenset(tags),
        )
    return found


def runtime_problems(
    dists: Mapping[str, StagedDist], python_version: str, supported: frozenset[Tag]
) -> list[str]:
    """Distributions that cannot run on CPython ``python_version`` (X.Y) with the ``supported`` tags."""
    full = f"{python_version}.0"
    problems = []
    for dist in dists.values():
        label = f"{dist.name} {dist.version}"
        if dist.requires_python and not SpecifierSet(dist.requires_python).contains(full, prereleases=True):
            problems.append(f"{label}: Requires-Python {dist.requires_python!r} excludes Python {full}")
        if not dist.tags:
            problems.append(f"{label}: no wheel tags (no WHEEL file): cannot tell that it fits the runtime")
        elif not dist.tags & supported:
            shown = ", ".join(sorted(str(t) for t in dist.tags))
            problems.append(
                f"{label}: wheel tags {shown} do not fit CPython {python_version} manylinux x86_64"
            )
    return problems


def lock_problems(dists: Mapping[str, StagedDist], pins: Mapping[str, str]) -> list[str]:
    """Staged vs ``{name: version}`` of the lock: exactly the same distributions at the same versions."""
    problems = [
        f"{n} {d.version} was staged but is not in the lock" for n, d in dists.items() if n not in pins
    ]
    for name, version in pins.items():
        staged = dists.get(name)
        if staged is None:
            problems.append(f"{name}=={version} is in the lock but was not staged")
        elif staged.version != version:
            problems.append(f"{name}: the lock pins {version}, {staged.version} was staged")
    return problems


def unmet_requirements(
    dists: Mapping[str, StagedDist], top_level: Sequence[str], env: Mapping[str, str]
) -> list[str]:
    """Walk the tree from ``top_level`` with the target's markers; each requirement staging does not meet."""
    queue = [(Requirement(r), "pyproject.toml") for r in top_level]
    visited: set[tuple[str, str]] = set()
    problems: set[str] = set()
    while queue:
        req, needed_by = queue.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
            continue
        key = canonicalize_name(req.name)
        dist = dists.get(key)
        if dist is None:
            problems.add(f"{req} (needed by {needed_by}) is not staged")
            continue
        if req.specifier and not req.specifier.contains(dist.version, prereleases=True):
            problems.add(f"{req} (needed by {needed_by}) is not met by the staged {dist.version}")
        for extra in {"", *req.extras}:
            if (key, extra) in visited:
                continue
            visited.add((key, extra))
            for dep in dist.requires:
                if dep.marker is None or dep.marker.evaluate({**env, "extra": extra}):
                    unmarked = Requirement(str(dep))
                    unmarked.marker = None  # judged here, for the target
                    queue.append((unmarked, f"{dist.name} {dist.version}"))
    return sorted(problems)
