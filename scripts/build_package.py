"""Build the FC code package: ``python scripts/build_package.py [--out ZIP] [--python-version 3.10]``.

The zip holds, at its root, the FC code root (``handler/`` without the dev-only simulator, CLI, demo,
local runner, tests and caches) plus the runtime dependencies from ``pyproject.toml``
``[project].dependencies``, installed for Linux x86_64 and the target CPython version:

    pip install --target <staging> --platform manylinux2014_x86_64 --implementation cp \
        --python-version <ver> --only-binary=:all: <dependencies>

Some Alibaba Cloud SDK dependencies exist on the index only as source distributions (for example
``alibabacloud-endpoint-util``), which ``--only-binary=:all:`` cannot use. Those are pure Python: the
script first builds wheels for the dependency tree with the local interpreter (``pip wheel``), keeps
only the platform-independent ``py3-none-any`` ones, and offers them to the install above with
``--find-links``. Compiled dependencies (pydantic-core) always come as manylinux wheels for the
target version from the index. pip reaches only the package index its normal configuration names.

The zip is deterministic for a given set of resolved files: sorted entries, fixed timestamps and
normalised permissions. ``*.dist-info`` directories are kept (``importlib.metadata`` needs them)
without ``RECORD`` and ``direct_url.json`` (the build's own paths and hashes of files we strip).
"""

from __future__ import annotations

import argparse
import email.parser
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: pip carries tomli, the parser tomllib came from
    from pip._vendor import tomli as tomllib
try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement  # type: ignore
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "dist" / "ehpc-rerun-fc.zip"
DEFAULT_PYTHON = "3.10"  # the FC runtime python3.10
PLATFORM = "manylinux2014_x86_64"

# Relative to the handler directory: dev-only modules (each says so in its docstring), never deployed.
HANDLER_EXCLUDES = (
    "ehpc_rerun/simulator",
    "ehpc_rerun/cli.py",
    "ehpc_rerun/demo.py",
    "ehpc_rerun/localrun.py",
)
JUNK_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
TEST_DIRS = frozenset({"tests", "test"})
JUNK_SUFFIXES = (".pyc", ".pyo")
# Installers and their helpers: nothing imports them at run time.
TOOLING = frozenset({"pip", "setuptools", "wheel", "pkg_resources", "_distutils_hack"})
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def read_dependencies(pyproject: Path) -> list[str]:
    with pyproject.open("rb") as fh:
        data = tomllib.load(fh)
    deps = data.get("project", {}).get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise SystemExit(f"{pyproject}: [project].dependencies must be a list of strings")
    return list(deps)


def target_environment(python_version: str) -> dict[str, str]:
    """PEP 508 marker values of the FC runtime (Linux x86_64, CPython ``python_version``).

    pip evaluates environment markers against the interpreter it runs on, even with
    ``--python-version``: building for 3.10 from 3.11 silently drops ``python_version < "3.11"``
    dependencies (aiohttp needs async-timeout there). The build evaluates them itself with these
    values. Without a patch number the oldest patch release is assumed, which errs towards
    installing a backport rather than missing one.
    """
    parts = python_version.split(".")
    short = ".".join(parts[:2])
    full = python_version if len(parts) >= 3 else f"{short}.0"
    return {
        "python_version": short,
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


def applicable(requirements: Iterable[str], env: dict[str, str]) -> list[str]:
    """The requirements whose marker holds on the target, without their markers (pip would re-judge them)."""
    out = []
    for line in requirements:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            out.append(str(req))
    return out


def installed_distributions(staging: Path) -> dict[str, tuple[str, list[Requirement]]]:
    """``{canonical name: (version, Requires-Dist)}`` of what ``pip --target`` put in ``staging``."""
    parser = email.parser.HeaderParser()
    found: dict[str, tuple[str, list[Requirement]]] = {}
    for meta in sorted(staging.glob("*.dist-info/METADATA")):
        msg = parser.parsestr(meta.read_text(encoding="utf-8"))
        requires = [Requirement(r) for r in msg.get_all("Requires-Dist") or []]
        found[canonicalize_name(msg["Name"])] = (msg["Version"], requires)
    return found


def unmet_requirements(staging: Path, top_level: Sequence[str], env: dict[str, str]) -> list[str]:
    """Walk the dependency tree with the target's markers; return what is missing from ``staging``."""
    dists = installed_distributions(staging)
    queue = [Requirement(r) for r in top_level]
    visited: set[tuple[str, str]] = set()
    missing: dict[str, Requirement] = {}
    while queue:
        req = queue.pop()
        key = canonicalize_name(req.name)
        if key not in dists:
            if key in missing:  # several dependents: all their version ranges must hold
                missing[key].specifier &= req.specifier
            else:
                missing[key] = req
            continue
        version, requires = dists[key]
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            raise SystemExit(f"{req.name} {version} is installed but {req} is required: resolve by hand")
        for extra in {"", *req.extras}:
            if (key, extra) in visited:
                continue
            visited.add((key, extra))
            queue += [d for d in requires if d.marker is None or d.marker.evaluate({**env, "extra": extra})]
    out = []
    for req in missing.values():
        req.marker = None
        out.append(str(req))
    return sorted(out)


def _excluded(rel: Path, excludes: Sequence[str]) -> bool:
    posix = rel.as_posix()
    if any(posix == ex or posix.startswith(ex + "/") for ex in excludes):
        return True
    if any(part in JUNK_DIRS or part in TEST_DIRS or part.endswith(".egg-info") for part in rel.parts):
        return True
    return rel.name.endswith(JUNK_SUFFIXES)


def stage_handler(handler_dir: Path, staging: Path, excludes: Sequence[str] = HANDLER_EXCLUDES) -> int:
    """Copy the FC code root into ``staging``; return the number of files copied."""
    if not (handler_dir / "index.py").is_file():
        print(f"warning: {handler_dir / 'index.py'} is missing (FC handler index.handler)", file=sys.stderr)
    count = 0
    for src in sorted(handler_dir.rglob("*")):
        rel = src.relative_to(handler_dir)
        if src.is_dir() or _excluded(rel, excludes):
            continue
        dst = staging / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        count += 1
    return count


def _pip(args: Sequence[str]) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)  # noqa: S603 - fixed executable, arguments built here


def build_pure_wheels(dependencies: Sequence[str], wheelhouse: Path) -> None:
    """Wheels for the whole tree with the local interpreter; keep only the pure-Python ones."""
    _pip(["wheel", "--quiet", "--wheel-dir", str(wheelhouse), *dependencies])
    for wheel in wheelhouse.glob("*.whl"):
        if not wheel.name.endswith("-none-any.whl"):
            wheel.unlink()


def install_dependencies(
    dependencies: Sequence[str],
    staging: Path,
    python_version: str,
    wheelhouse: Path | None,
    constraints: Path | None = None,
) -> None:
    args = [
        "install",
        "--quiet",
        "--no-compile",
        "--target",
        str(staging),
        "--platform",
        PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
    ]
    if wheelhouse is not None:
        args += ["--find-links", str(wheelhouse)]
    if constraints is not None:
        args += ["--constraint", str(constraints)]
    _pip([*args, *dependencies])


def install_tree(dependencies: Sequence[str], staging: Path, python_version: str, work: Path) -> None:
    """Install ``dependencies`` and, round by round, what the target's markers add to the tree."""
    env = target_environment(python_version)
    wanted = applicable(dependencies, env)
    wheelhouse = work / "wheelhouse"
    wheelhouse.mkdir()
    build_pure_wheels(wanted, wheelhouse)
    install_dependencies(wanted, staging, python_version, wheelhouse)
    for _ in range(5):
        missing = unmet_requirements(staging, wanted, env)
        if not missing:
            return
        print(f"target-only dependencies (markers for CPython {python_version}): {', '.join(missing)}")
        pins = work / "installed.txt"
        installed = installed_distributions(staging)
        pins.write_text("".join(f"{name}=={ver}\n" for name, (ver, _) in installed.items()), encoding="utf-8")
        build_pure_wheels(missing, wheelhouse)
        install_dependencies(missing, staging, python_version, wheelhouse, constraints=pins)
    raise SystemExit(f"dependencies still missing after 5 rounds: {', '.join(missing)}")


def strip_tree(staging: Path) -> None:
    """Remove what the function never needs: caches, tests, installers, scripts, build records."""
    for path in sorted(staging.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if not path.exists():
            continue
        rel = path.relative_to(staging)
        top = rel.parts[0]
        top_name = top.split("-")[0].lower() if top.endswith(".dist-info") else top
        tooling = top_name in TOOLING or top in {"bin", "distutils-precedence.pth"}
        junk_dir = path.is_dir() and (
            path.name in JUNK_DIRS or (path.name in TEST_DIRS and len(rel.parts) > 1)
        )
        if tooling or junk_dir:
            _remove(path)
        elif path.is_file() and (
            path.name.endswith(JUNK_SUFFIXES)
            or (rel.parent.name.endswith(".dist-info") and path.name in {"RECORD", "direct_url.json"})
        ):
            path.unlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _files(root: Path) -> Iterable[Path]:
    return sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def write_zip(staging: Path, out: Path) -> int:
    """Write ``staging`` to ``out`` deterministically; return the number of files."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    count = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in _files(staging):
            info = zipfile.ZipInfo(path.relative_to(staging).as_posix(), date_time=ZIP_EPOCH)
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permission bits mean what they say
            zf.writestr(info, path.read_bytes(), compresslevel=9)
            count += 1
    tmp.replace(out)
    return count


def build(
    out: Path,
    python_version: str,
    *,
    handler_dir: Path = REPO / "handler",
    pyproject: Path = REPO / "pyproject.toml",
    with_dependencies: bool = True,
) -> tuple[int, int]:
    """Build the package; return (file count, size in bytes)."""
    dependencies = read_dependencies(pyproject)
    with tempfile.TemporaryDirectory(prefix="ehpc-rerun-build-") as tmp:
        staging = Path(tmp) / "staging"
        staging.mkdir()
        if with_dependencies and dependencies:
            install_tree(dependencies, staging, python_version, Path(tmp))
            strip_tree(staging)
        # The code goes in last: a dependency can never shadow a module of ours.
        stage_handler(handler_dir, staging)
        count = write_zip(staging, out)
    return count, out.stat().st_size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"zip to write (default {DEFAULT_OUT})")
    parser.add_argument(
        "--python-version",
        default=DEFAULT_PYTHON,
        help="target CPython X.Y (default %(default)s: FC python3.10)",
    )
    parser.add_argument("--handler-dir", type=Path, default=REPO / "handler", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    count, size = build(args.out.resolve(), args.python_version, handler_dir=args.handler_dir)
    target = f"CPython {args.python_version}, {PLATFORM}"
    print(f"{args.out}: {size / 1_048_576:.2f} MB, {count} files ({target})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
