"""Refresh the locks of the deployed dependencies: ``python scripts/lock.py [--runtime R] [--upgrade]``.

For each FC runtime (``scripts/fc_runtimes.py``) it resolves pyproject.toml's ``[project].dependencies``
for that runtime, not for the interpreter running this script, and writes ``locks/fc-<runtime>.txt``:
every distribution pinned, with the sha256 of each wheel that fits the runtime. The resolver is uv's
``uv pip compile --python-version X.Y --python-platform x86_64-manylinux_2_<glibc>``: it judges markers
and ``Requires-Python`` for the target (pip-tools' ``pip-compile`` resolves for the interpreter it runs
on), and its PEP 751 output (``--format pylock.toml``) names every wheel file it found for that target.
uv (pinned below) is pip-installed into a temporary venv: nothing is installed on the machine.

A distribution published only as a source archive (some Alibaba Cloud SDK parts, pure Python) cannot go
through ``pip install --only-binary=:all:``: its sdist is downloaded with its locked hash, built once
into ``locks/wheels/<name>-<version>-py3-none-any.whl`` (kept, and reused on later refreshes) and the
lock pins that wheel's hash. Existing pins are kept where pyproject allows them; ``--upgrade`` takes the
newest versions instead. Needs network access to the package index.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import venv
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fc_runtimes as fc
import lockfile

if sys.version_info >= (3, 11):
    import tomllib
else:
    from pip._vendor import tomli as tomllib
try:
    from packaging.utils import canonicalize_name, parse_wheel_filename
except ImportError:
    from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename  # type: ignore[assignment,no-redef,unused-ignore]

UV = "uv==0.13.9"
WHEELS = fc.LOCK_DIR / "wheels"
PYPROJECT = fc.REPO / "pyproject.toml"
COMMAND = "python scripts/lock.py"


def _run(cmd: Sequence[str], env: dict[str, str] | None = None) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)  # noqa: S603 - commands built here


def install_uv(work: Path) -> Path:
    env_dir = work / "uv-venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", UV])
    return env_dir / "bin" / "uv"


def _uv_env() -> dict[str, str]:
    # Never fetch an interpreter from the internet: uv only resolves here, for --python-version.
    return {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_CONFIG": "1"}


def compile_runtime(uv: Path, rt: fc.Runtime, work: Path, *, upgrade: bool) -> tuple[Path, Path]:
    """Resolve for ``rt``: a requirements file with ``# via`` and the same pins as PEP 751 (wheel files)."""
    pins = work / f"{rt.name}.txt"
    if rt.lock.exists() and not upgrade:  # uv prefers the versions already in its output file
        kept = lockfile.read_lock(rt.lock)
        pins.write_text("".join(f"{p.name}=={p.version}\n" for p in kept.pins.values()), encoding="utf-8")
    target = ["--python-version", rt.python, "--python-platform", rt.uv_platform, "--python", sys.executable]
    common = [str(uv), "pip", "compile", str(PYPROJECT), *target, "--no-header", "--quiet"]
    _run([*common, "--annotation-style", "line", "-o", str(pins)], env=_uv_env())
    pylock = work / rt.name / "pylock.fc.toml"
    pylock.parent.mkdir()
    _run([*common, "--constraint", str(pins), "--format", "pylock.toml", "-o", str(pylock)], env=_uv_env())
    return pins, pylock


def _fits(rt: fc.Runtime, filename: str) -> bool:
    supported = rt.supported_tags()
    return any(tag in supported for tag in parse_wheel_filename(filename)[3])


def vendored_wheel(name: str, version: str, sdist: dict[str, object], work: Path) -> Path:
    """The wheel of an sdist-only pin: reused from locks/wheels/ or built now from the hashed sdist."""
    for existing in sorted(WHEELS.glob("*.whl")):
        w_name, w_version, _, _ = parse_wheel_filename(existing.name)
        if canonicalize_name(w_name) == name and str(w_version) == version:
            return existing
    hashes = sdist.get("hashes")
    if not isinstance(hashes, dict) or "sha256" not in hashes:
        raise SystemExit(f"{name}=={version}: uv gave no sha256 for its sdist")
    req = work / f"sdist-{name}.txt"
    req.write_text(f"{name}=={version} --hash=sha256:{hashes['sha256']}\n", encoding="utf-8")
    dl = work / f"sdist-{name}"
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"]
    _run([*pip, "--no-binary=:all:", "--require-hashes", "-r", str(req), "-d", str(dl)])
    (archive,) = sorted(dl.iterdir())
    WHEELS.mkdir(parents=True, exist_ok=True)
    out = work / f"wheel-{name}"
    env = {**_uv_env(), "SOURCE_DATE_EPOCH": "315532800"}  # fixed zip timestamps in the wheel
    uv = work / "uv-venv" / "bin" / "uv"
    _run(
        [str(uv), "build", "--wheel", "--quiet", "--python", sys.executable, "-o", str(out), str(archive)],
        env=env,
    )
    (wheel,) = sorted(out.glob("*.whl"))
    if not wheel.name.endswith("-none-any.whl"):
        raise SystemExit(
            f"{name}=={version} has only an sdist, and it builds a platform wheel ({wheel.name})"
        )
    return Path(wheel.replace(WHEELS / wheel.name))


def _sha256(path: Path) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def write_lock(rt: fc.Runtime, pins_file: Path, pylock: Path, work: Path) -> lockfile.Lock:
    resolved = lockfile.read_lock(pins_file)
    with pylock.open("rb") as fh:
        packages = tomllib.load(fh)["packages"]
    options: list[str] = []
    for package in packages:
        name, version = canonicalize_name(package["name"]), str(package["version"])
        pin = resolved.pins[name]
        if pin.version != version:
            raise SystemExit(f"uv resolved {name} {pin.version} and {version}: run again")
        wheels = [w for w in package.get("wheels", []) if _fits(rt, w["url"].rsplit("/", 1)[-1])]
        pin.hashes = [f"sha256:{w['hashes']['sha256']}" for w in wheels]
        if not pin.hashes:
            wheel = vendored_wheel(name, version, package.get("sdist") or {}, work)
            pin.hashes = [_sha256(wheel)]
            options = ["--find-links wheels"]  # relative to the lock file
    resolved.options = options
    header = [
        f"FC runtime {rt.name}: CPython {rt.python}, Debian {rt.debian} "
        f"(glibc {rt.glibc[0]}.{rt.glibc[1]}), x86_64.",
        "The deployed dependencies of pyproject.toml, pinned with the hash of each wheel fit for the runtime",
        f"(wheels built from sdist-only pins are in locks/wheels/). Do not edit: refresh with `{COMMAND}`.",
        f"Resolved by {UV.replace('==', ' ')}: uv pip compile pyproject.toml --python-version {rt.python} "
        f"--python-platform {rt.uv_platform}",
        "",
    ]
    rt.lock.write_text(lockfile.render_lock(header, resolved), encoding="utf-8")
    return resolved


def _changes(before: lockfile.Lock | None, after: lockfile.Lock) -> str:
    if before is None:
        return f"{len(after.pins)} pins (new lock)"
    old = {n: p.version for n, p in before.pins.items()}
    new = {n: p.version for n, p in after.pins.items()}
    moved = [
        f"{n} {old.get(n, '-')} -> {new.get(n, '-')}"
        for n in sorted(old.keys() | new.keys())
        if old.get(n) != new.get(n)
    ]
    return f"{len(after.pins)} pins; " + ("; ".join(moved) if moved else "no version changed")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", choices=sorted(fc.RUNTIMES), action="append", help="default: all")
    parser.add_argument("--upgrade", action="store_true", help="newest versions pyproject allows")
    args = parser.parse_args(argv)
    runtimes = [fc.runtime(n) for n in (args.runtime or sorted(fc.RUNTIMES))]
    fc.LOCK_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ehpc-rerun-lock-") as tmp:
        work = Path(tmp)
        uv = install_uv(work)
        for rt in runtimes:
            before = lockfile.read_lock(rt.lock) if rt.lock.exists() else None
            pins, pylock = compile_runtime(uv, rt, work, upgrade=args.upgrade)
            after = write_lock(rt, pins, pylock, work)
            problems = lockfile.disagreements(
                lockfile.read_dependencies(PYPROJECT), after, rt.marker_environment()
            )
            if problems:
                raise SystemExit(f"{rt.lock}: " + "; ".join(problems))
            print(f"{rt.lock.relative_to(fc.REPO)}: {_changes(before, after)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
