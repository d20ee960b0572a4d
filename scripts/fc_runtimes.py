"""The FC Python runtimes we deploy to, their locks, and where their interpreters are on this machine.

Facts (FC "Python runtime" docs, https://www.alibabacloud.com/help/en/functioncompute/fc/python/):
``python3.10`` runs on Debian 10 (glibc 2.28), ``python3.12`` on Debian 11 (glibc 2.31), both x86_64
CPython. A wheel fits a runtime when one of its tags is among the runtime's supported tags: CPython
``cpXY`` / ``abi3`` / pure Python, on ``manylinux_2_<n>_x86_64`` with ``n`` at most the glibc minor.

``python scripts/fc_runtimes.py find-python 3.10`` prints the real interpreter of that version (not a
pyenv shim) or fails naming where it looked.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

try:
    from packaging.tags import Tag, compatible_tags, cpython_tags
except ImportError:  # pip always carries a copy (the machine's bare python3 may have no packaging)
    from pip._vendor.packaging.tags import Tag, compatible_tags, cpython_tags  # type: ignore[assignment,no-redef,unused-ignore]

REPO = Path(__file__).resolve().parent.parent
LOCK_DIR = REPO / "locks"


@dataclass(frozen=True)
class Runtime:
    name: str  # FC's runtime identifier
    python: str  # X.Y
    debian: str
    glibc: tuple[int, int]

    @property
    def version_tuple(self) -> tuple[int, int]:
        major, minor = self.python.split(".")
        return int(major), int(minor)

    @property
    def lock(self) -> Path:
        return LOCK_DIR / f"fc-{self.name}.txt"

    @property
    def uv_platform(self) -> str:
        """uv's ``--python-platform`` for this glibc (uv names 2_17, 2_28, 2_31, ...)."""
        return f"x86_64-manylinux_{self.glibc[0]}_{self.glibc[1]}"

    def pip_platforms(self) -> list[str]:
        """pip ``--platform`` values, most preferred first: each manylinux this glibc runs, old aliases too.

        pip expands ``manylinux2014`` to the older aliases itself but never ``manylinux_2_<n>``, so each
        glibc level is named (wheels such as numpy's newest carry only ``manylinux_2_27/2_28`` tags).
        """
        major, minor = self.glibc
        out: list[str] = []
        for n in range(minor, 4, -1):
            out.append(f"manylinux_{major}_{n}_x86_64")
            legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}.get(n)
            if legacy:
                out.append(f"{legacy}_x86_64")
        return out

    def supported_tags(self) -> frozenset[Tag]:
        platforms = self.pip_platforms()
        version = self.version_tuple
        interpreter = f"cp{version[0]}{version[1]}"
        tags = list(cpython_tags(version, abis=[interpreter, "abi3", "none"], platforms=platforms))
        tags += compatible_tags(version, interpreter, platforms)
        return frozenset(tags)

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker values on the runtime. The patch release is unknown: X.Y.0, the strict reading."""
        full = f"{self.python}.0"
        return {
            "python_version": self.python,
            "python_full_version": full,
            "implementation_name": "cpython",
            "implementation_version": full,
            "platform_python_implementation": "CPython",
            "platform_system": "Linux",
            "platform_machine": "x86_64",
            "sys_platform": "linux",
            "os_name": "posix",
            "extra": "",
        }


RUNTIMES: dict[str, Runtime] = {
    "python3.10": Runtime("python3.10", "3.10", "10", (2, 28)),
    "python3.12": Runtime("python3.12", "3.12", "11", (2, 31)),
}
DEFAULT_RUNTIME = "python3.10"


def runtime(name: str) -> Runtime:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise SystemExit(f"unknown FC runtime {name!r}; known: {', '.join(RUNTIMES)}") from None


# --- interpreters on this machine ------------------------------------------------------------------


def _pyenv_roots() -> list[Path]:
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")]
    seen: list[Path] = []
    for root in roots:
        if root and Path(root) not in seen:
            seen.append(Path(root))
    return seen


def _patch(path: Path) -> tuple[int, ...]:
    """Sort key of ``.../versions/3.10.13/bin/...``: the numeric patch release, newest first later."""
    name = path.parents[1].name
    return tuple(int(p) if p.isdigit() else -1 for p in name.split("."))


def interpreter_candidates(version: str) -> Iterator[str]:
    """Where an X.Y interpreter may be: pyenv's versions (PYENV_ROOT, ~/.pyenv: pyenv need not be on
    PATH), then ``pythonX.Y`` on PATH (maybe a shim: resolved by :func:`probe`), then the usual places."""
    for root in _pyenv_roots():
        found = sorted((root / "versions").glob(f"{version}.*/bin/python{version}"), key=_patch, reverse=True)
        yield from (str(p) for p in found)
    on_path = shutil.which(f"python{version}")
    if on_path:
        yield on_path
    yield from (f"/usr/bin/python{version}", f"/usr/local/bin/python{version}")


def probe(candidate: str) -> tuple[str, str] | None:
    """``(X.Y, real executable)`` of a candidate: a pyenv shim or venv link resolves to the binary it runs."""
    if not Path(candidate).exists():
        return None
    code = "import os, sys; print('%d.%d' % sys.version_info[:2]); print(os.path.realpath(sys.executable))"
    try:
        result = subprocess.run(  # noqa: S603 - a Python interpreter, fixed code
            [candidate, "-c", code], check=False, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = result.stdout.split()
    if result.returncode != 0 or len(lines) != 2:
        return None
    return lines[0], lines[1]


def find_python(version: str) -> str | None:
    """The real (not shim) executable of a CPython ``version`` (X.Y), or None."""
    for candidate in interpreter_candidates(version):
        found = probe(candidate)
        if found and found[0] == version:
            return found[1]
    return None


def require_python(version: str) -> str:
    found = find_python(version)
    if found is None:
        pyenv = [f"{root}/versions/{version}.*" for root in _pyenv_roots()]
        places = [*pyenv, f"python{version} on PATH", *interpreter_candidates(version)]
        raise SystemExit(
            f"error: no Python {version} interpreter found (looked at: {', '.join(dict.fromkeys(places))}). "
            f"Install CPython {version} (e.g. `pyenv install {version}`) or put python{version} on PATH."
        )
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="FC runtime facts for the build and CI")
    sub = parser.add_subparsers(dest="command", required=True)
    find = sub.add_parser("find-python", help="print the real interpreter of a CPython X.Y, or fail")
    find.add_argument("version", help="X.Y, e.g. 3.10")
    args = parser.parse_args(argv)
    print(require_python(args.version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
