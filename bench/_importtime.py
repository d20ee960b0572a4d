"""``python -X importtime`` output -> who imported what, and at what cost (medians over runs).

importtime prints one line per module in post-order: a module's children are the lines just above it
with a deeper indentation. Each module appears once, under whoever imported it first, so the
cumulative time of a node is what that first import cost at that point of the import order.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


@dataclass
class Node:
    name: str
    self_us: int
    cum_us: int
    depth: int
    parent: str | None = None
    children: list[str] = field(default_factory=list)


def parse(stderr: str) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    pending: list[Node] = []  # nodes whose importer has not been seen yet
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        node = Node(match[4], int(match[1]), int(match[2]), len(match[3]) // 2)
        while pending and pending[-1].depth > node.depth:
            child = pending.pop()
            child.parent = node.name
            node.children.insert(0, child.name)
        pending.append(node)
        nodes[node.name] = node
    return nodes


def is_ours(name: str) -> bool:
    return name == "index" or name == "ehpc_rerun" or name.startswith("ehpc_rerun.")


def group_of(name: str) -> str:
    top = name.split(".", 1)[0]
    if is_ours(name):
        return "ours (ehpc_rerun.*, index)"
    if top in ("pydantic", "pydantic_core", "annotated_types", "typing_inspection", "typing_extensions"):
        return "pydantic (+core, annotated_types, typing_*)"
    if top in ("pydantic_settings", "dotenv"):
        return "pydantic_settings (+dotenv)"
    return "stdlib and other"


@dataclass
class Profile:
    """Medians over several importtime runs of the same child."""

    self_ms: dict[str, float]
    cum_ms: dict[str, float]
    parent: dict[str, str | None]
    children: dict[str, list[str]]

    def total_ms(self) -> float:
        return sum(self.self_ms.values())

    def groups(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, ms in self.self_ms.items():
            out[group_of(name)] = out.get(group_of(name), 0.0) + ms
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def ours_by_self(self, top: int = 12) -> list[tuple[str, float]]:
        ours = [(n, ms) for n, ms in self.self_ms.items() if is_ours(n)]
        return sorted(ours, key=lambda kv: -kv[1])[:top]

    def pulled_by_ours(self, min_ms: float = 0.5) -> list[tuple[str, str, float]]:
        """(module, our importer, cumulative ms): other code first imported by one of our modules."""
        rows = [
            (name, parent, self.cum_ms[name])
            for name, parent in self.parent.items()
            if parent and is_ours(parent) and not is_ours(name) and self.cum_ms[name] >= min_ms
        ]
        return sorted(rows, key=lambda r: -r[2])

    def chain(self, name: str) -> str:
        """``name <- importer <- ... <- first module of ours``."""
        links = [name]
        current = self.parent.get(name)
        while current is not None and len(links) < 12:
            links.append(current)
            if is_ours(current):
                break
            current = self.parent.get(current)
        return " <- ".join(links)

    def subtree_self_ms(self, prefix: str) -> float:
        """Sum of self times of every module named ``prefix`` or ``prefix.*``."""
        return sum(ms for n, ms in self.self_ms.items() if n == prefix or n.startswith(prefix + "."))


def combine(outputs: list[str]) -> Profile:
    parsed = [parse(text) for text in outputs]
    names = set().union(*(p.keys() for p in parsed)) if parsed else set()
    self_ms: dict[str, float] = {}
    cum_ms: dict[str, float] = {}
    parent: dict[str, str | None] = {}
    children: dict[str, list[str]] = {}
    for name in names:
        present = [p[name] for p in parsed if name in p]
        # a module missing from some runs counts as 0 there (it was not imported)
        selfs = [n.self_us for n in present] + [0] * (len(parsed) - len(present))
        cums = [n.cum_us for n in present] + [0] * (len(parsed) - len(present))
        self_ms[name] = statistics.median(selfs) / 1000
        cum_ms[name] = statistics.median(cums) / 1000
        parent[name] = present[-1].parent
        children[name] = present[-1].children
    return Profile(self_ms, cum_ms, parent, children)
