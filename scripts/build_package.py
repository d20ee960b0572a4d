"""Build the FC code package: ``python scripts/build_package.py [--runtime python3.12] [--out ZIP]``.

The zip holds, at its root, the FC code root (``handler/`` without the dev-only simulator, Tablestore
server, CLI, demo, local runner, tests and caches) and exactly the locked dependencies of the runtime,
``locks/fc-<runtime>.txt`` (``scripts/lock.py`` refreshes it), installed for it whatever Python runs this:

    pip install --require-hashes --no-deps --only-binary=:all: --implementation cp \
        --python-version X.Y --platform manylinux_2_<glibc>_x86_64 ... --platform manylinux1_x86_64 \
        --target <staging> -r locks/fc-<runtime>.txt

Then it refuses any staged distribution the runtime cannot run (named, with the reason: not the locked
version, ``Requires-Python``, wheel tags, a dependency the lock misses), zips, and checks the zip in a
clean interpreter of the runtime (``scripts/runtime_smoke.py``: imports everything, handles one event
against the local simulator). That interpreter is found in pyenv (``$PYENV_ROOT``, ``~/.pyenv``) or on
PATH; without it the build fails unless ``--skip-runtime-check`` says otherwise.

The zip is byte-identical whichever Python and pip run the build: sorted entries, fixed timestamps, modes
0644 (0755 only for executable files of ours), no ``__pycache__``, and no ``RECORD``, ``INSTALLER``,
``REQUESTED``, ``direct_url.json`` or ``bin/`` (what pip versions write differently). ``*.dist-info`` stays
(``importlib.metadata`` needs it). Deflate output depends on zlib, which all these interpreters share here.
Downloaded wheels are kept in ``~/.cache/ehpc-rerun/wheels/<runtime>`` (``--cache-dir``), checked by hash.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fc_runtimes as fc
import lockfile
import runtime_smoke
import staged_checks

REPO = fc.REPO
DEFAULT_OUT = REPO / "dist" / "ehpc-rerun-fc.zip"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ehpc-rerun" / "wheels"

# Relative to the handler directory: dev-only modules (each says so in its docstring), never deployed.
HANDLER_EXCLUDES = (
    "ehpc_rerun/simulator",
    "ehpc_rerun/otsserver",
    "ehpc_rerun/cli.py",
    "ehpc_rerun/cli_invoke.py",
    "ehpc_rerun/demo.py",
    "ehpc_rerun/localrun.py",
)
JUNK_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
TEST_DIRS = frozenset({"tests", "test"})
JUNK_SUFFIXES = (".pyc", ".pyo")
# Installers and their helpers: nothing imports them at run time.
TOOLING = frozenset({"pip", "setuptools", "wheel", "pkg_resources", "_distutils_hack"})
# What pip writes itself into a dist-info, differently from one pip version to the next.
INSTALL_RECORDS = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Built:
    path: Path
    files: int
    size: int
    sha256: str
    check: str  # what the runtime check did, or why it was skipped


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
        raise SystemExit(f"{handler_dir / 'index.py'} is missing (FC handler index.handler)")
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


def pip_commands(rt: fc.Runtime, lock: Path, wheelhouse: Path, staging: Path) -> tuple[list[str], list[str]]:
    """``pip download`` of the lock into the wheelhouse (a cache: files already there are reused), then
    ``pip install`` of exactly the lock from it, offline. pip's own HTTP cache is not relied on: some
    proxies forbid caching, and it is per pip version."""
    pip = [sys.executable, "-m", "pip"]
    common = [
        "--disable-pip-version-check",
        "--quiet",
        "--require-hashes",
        "--no-deps",
        "--only-binary=:all:",
        # pip install judges Requires-Python by the interpreter running it, even with --python-version;
        # staged_checks.runtime_problems judges it for the runtime instead, after staging.
        "--ignore-requires-python",
        "--implementation",
        "cp",
        "--python-version",
        rt.python,
        *[arg for p in rt.pip_platforms() for arg in ("--platform", p)],
    ]
    download = [*pip, "download", *common, "--dest", str(wheelhouse), "-r", str(lock)]
    install = [
        *pip,
        "install",
        *common,
        "--root-user-action=ignore",
        "--no-compile",
        "--no-index",
        "--find-links",
        str(wheelhouse),
        "--target",
        str(staging),
        "-r",
        str(lock),
    ]
    return download, install


def install_lock(rt: fc.Runtime, lock: Path, staging: Path, dependencies: Sequence[str], cache: Path) -> int:
    """Install exactly ``lock`` for ``rt`` into ``staging`` and refuse what the runtime cannot run."""
    wheelhouse = cache / rt.name
    wheelhouse.mkdir(parents=True, exist_ok=True)
    for cmd in pip_commands(rt, lock, wheelhouse, staging):
        print("+ pip", cmd[3], "--require-hashes --no-deps --only-binary=:all: ... -r", lock.name, flush=True)
        if subprocess.run(cmd, check=False).returncode != 0:  # noqa: S603 - fixed executable, arguments built here
            raise SystemExit(f"pip could not {cmd[3]} {lock} for FC {rt.name} (its message is above)")
    dists = staged_checks.staged_distributions(staging)
    pins = {p.name: p.version for p in lockfile.read_lock(lock).pins.values()}
    problems = staged_checks.lock_problems(dists, pins)
    problems += staged_checks.runtime_problems(dists, rt.python, rt.supported_tags())
    problems += staged_checks.unmet_requirements(dists, dependencies, rt.marker_environment())
    if problems:
        listing = "\n  ".join(problems)
        raise SystemExit(
            f"refusing to package for FC {rt.name}:\n  {listing}\n"
            f"(if pyproject.toml changed, refresh the lock: python scripts/lock.py)"
        )
    return len(dists)


def strip_tree(staging: Path) -> None:
    """Remove what the function never needs (caches, tests, installers, scripts, install records);
    every remaining file 0644: nothing in there is run as a program, and pips set modes differently."""
    for path in sorted(staging.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if not path.exists() and not path.is_symlink():
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
            or (rel.parent.name.endswith(".dist-info") and path.name in INSTALL_RECORDS)
        ):
            path.unlink()
        elif path.is_file():
            path.chmod(0o644)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _files(root: Path) -> Iterable[Path]:
    return sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def write_zip(staging: Path, out: Path) -> int:
    """Write ``staging`` to ``out`` deterministically; return the number of files."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    count = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in _files(staging):
            info = zipfile.ZipInfo(path.relative_to(staging).as_posix(), date_time=ZIP_EPOCH)
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permission bits mean what they say
            zf.writestr(info, path.read_bytes(), compresslevel=6)
            count += 1
    tmp.replace(out)
    return count


def runtime_check(out: Path, rt: fc.Runtime, python: str | None) -> str:
    python = python or fc.require_python(rt.python)
    with tempfile.TemporaryDirectory(prefix="ehpc-rerun-unpacked-") as tmp:
        with zipfile.ZipFile(out) as zf:
            zf.extractall(tmp)
        return runtime_smoke.check(python, Path(tmp), rt)


def build(
    out: Path,
    rt: fc.Runtime,
    *,
    handler_dir: Path = REPO / "handler",
    lock: Path | None = None,
    runtime_python: str | None = None,
    skip_runtime_check: bool = False,
    cache: Path = DEFAULT_CACHE,
) -> Built:
    """Build the package for ``rt`` from ``lock`` (default: the runtime's lock) and check it."""
    lock = lock or rt.lock
    if not lock.is_file():
        raise SystemExit(f"{lock} is missing: create it with `python scripts/lock.py --runtime {rt.name}`")
    dependencies = lockfile.read_dependencies(REPO / "pyproject.toml")
    with tempfile.TemporaryDirectory(prefix="ehpc-rerun-build-") as tmp:
        staging = Path(tmp) / "staging"
        staging.mkdir()
        install_lock(rt, lock, staging, dependencies, cache)
        strip_tree(staging)
        stage_handler(handler_dir, staging)  # our code last: a dependency can never shadow a module of ours
        count = write_zip(staging, out)
    if skip_runtime_check:
        check = f"NOT CHECKED in a {rt.name} interpreter (--skip-runtime-check)"
    else:
        check = runtime_check(out, rt, runtime_python)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    return Built(out, count, out.stat().st_size, digest, check)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--runtime", choices=sorted(fc.RUNTIMES), default=fc.DEFAULT_RUNTIME, help="FC runtime"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"zip to write (default {DEFAULT_OUT})")
    parser.add_argument(
        "--runtime-python", help="the runtime's interpreter (default: found in pyenv or PATH)"
    )
    parser.add_argument(
        "--skip-runtime-check", action="store_true", help="do not run the zip in the runtime's interpreter"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help="downloaded wheels (default %(default)s)"
    )
    parser.add_argument("--handler-dir", type=Path, default=REPO / "handler", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rt = fc.runtime(args.runtime)
    built = build(
        args.out.resolve(),
        rt,
        handler_dir=args.handler_dir,
        runtime_python=args.runtime_python,
        skip_runtime_check=args.skip_runtime_check,
        cache=args.cache_dir,
    )
    print(f"{args.out}: {built.size / 1_048_576:.2f} MB, {built.files} files, sha256 {built.sha256}")
    print(f"FC {rt.name} (CPython {rt.python}, manylinux_{rt.glibc[0]}_{rt.glibc[1]} x86_64): {built.check}")
    if args.skip_runtime_check:
        print("WARNING: this zip was not run in the runtime's interpreter", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
