"""scripts/build_package.py builds, from the lock, a deterministic FC code zip that runs on its runtime.

The fast tests check the pieces. The slow ones build each runtime's zip once per session (``packages``,
about 15 s each; wheels are kept in ``~/.cache/ehpc-rerun/wheels``): the build itself imports the zip in a
clean interpreter of that FC runtime (pyenv's 3.10 / 3.12 here) and handles one event there, and fails
when that interpreter is missing. The zips are then rebuilt by another interpreter with another pip
(the machine's ``python3``) and compared byte for byte.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import build_package as bp  # noqa: E402
import fc_runtimes as fc  # noqa: E402
import lockfile  # noqa: E402
import staged_checks  # noqa: E402

MAX_BYTES = 60 * 1_048_576
RUNTIMES = sorted(fc.RUNTIMES)
BUILD_TIMEOUT = pytest.mark.timeout(600)  # downloads on a cold cache: margin over the suite's 120 s


# --- fast: the pieces ------------------------------------------------------------------------------


DEV_ONLY_MODULES = {
    f"ehpc_rerun/{name}.py" for name in ("cli", "cli_invoke", "demo", "localrun")
}  # never in the zip


def _fake_handler(root: Path) -> Path:
    files = [
        "index.py",
        "ehpc_rerun/__init__.py",
        "ehpc_rerun/app.py",
        "ehpc_rerun/cli.py",
        "ehpc_rerun/cli_invoke.py",
        "ehpc_rerun/demo.py",
        "ehpc_rerun/localrun.py",
        "ehpc_rerun/py.typed",
        "ehpc_rerun/rules/default.yaml",
        "ehpc_rerun/simulator/__init__.py",
        "ehpc_rerun/simulator/server.py",
        "ehpc_rerun/otsserver/__init__.py",
        "ehpc_rerun/otsserver/server.py",
        "ehpc_rerun/state/tablestore.py",
        "ehpc_rerun/__pycache__/app.cpython-311.pyc",
        "ehpc_rerun/sources/tests/test_x.py",
        "ehpc_rerun/stray.pyc",
        "ehpc_rerun.egg-info/PKG-INFO",
    ]
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {rel}\n", encoding="utf-8")
    return root


def test_staging_keeps_the_code_and_drops_dev_only_modules_tests_and_caches(tmp_path: Path) -> None:
    # given a handler tree with dev-only modules (simulator, Tablestore server, CLI...) and caches
    handler = _fake_handler(tmp_path / "handler")
    staging = tmp_path / "staging"
    staging.mkdir()
    # when staged
    count = bp.stage_handler(handler, staging)
    # then only the deployed code is there
    staged = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
    assert staged == [
        "ehpc_rerun/__init__.py",
        "ehpc_rerun/app.py",
        "ehpc_rerun/py.typed",
        "ehpc_rerun/rules/default.yaml",
        "ehpc_rerun/state/tablestore.py",
        "index.py",
    ]
    assert count == len(staged)


def test_zip_is_byte_identical_for_the_same_tree(tmp_path: Path) -> None:
    # given a tree with an executable file of ours
    tree = _fake_handler(tmp_path / "tree")
    (tree / "run.sh").write_text("#!/bin/sh\n", encoding="utf-8")
    (tree / "run.sh").chmod(0o755)
    (tree / "index.py").chmod(0o600)  # a umask must not matter either
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    # when zipped twice, with an mtime changed in between
    bp.write_zip(tree, first)
    os.utime(tree / "index.py", (1_000_000_000, 1_000_000_000))
    bp.write_zip(tree, second)
    # then the bytes are the same, sorted, with fixed times and normalised modes
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in infos}
    assert modes["run.sh"] == 0o755 and modes["index.py"] == 0o644


def _dist(
    root: Path,
    name: str,
    version: str,
    *,
    requires: tuple[str, ...] = (),
    python: str = "",
    tag: str = "py3-none-any",
) -> None:
    info = root / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"]
    lines += [f"Requires-Python: {python}\n"] if python else []
    lines += [f"Requires-Dist: {r}\n" for r in requires]
    (info / "METADATA").write_text("".join(lines), encoding="utf-8")
    (info / "WHEEL").write_text(f"Wheel-Version: 1.0\nTag: {tag}\n", encoding="utf-8")


def _problems(staging: Path, runtime: str) -> list[str]:
    rt = fc.runtime(runtime)
    return staged_checks.runtime_problems(
        staged_checks.staged_distributions(staging), rt.python, rt.supported_tags()
    )


def test_a_distribution_whose_requires_python_excludes_the_runtime_is_refused_by_name(tmp_path: Path) -> None:
    # given the release the issue staged for python3.10
    _dist(tmp_path, "pydantic_settings", "2.16.3", python=">=3.11")
    # when judged for each runtime
    # then python3.10 refuses it, naming it and why; python3.12 takes it
    assert _problems(tmp_path, "python3.10") == [
        "pydantic-settings 2.16.3: Requires-Python '>=3.11' excludes Python 3.10.0"
    ]
    assert _problems(tmp_path, "python3.12") == []


@pytest.mark.parametrize(
    ("tag", "ok_310", "ok_312"),
    [
        ("cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64", True, False),
        ("cp312-cp312-manylinux_2_28_x86_64", False, True),
        ("cp39-abi3-manylinux_2_28_x86_64", True, True),
        ("cp312-cp312-manylinux_2_34_x86_64", False, False),  # newer glibc than Debian 11's 2.31
        ("cp310-cp310-manylinux_2_31_x86_64", False, False),  # Debian 10 has glibc 2.28
        ("cp310-cp310-musllinux_1_2_x86_64", False, False),
        ("cp310-cp310-manylinux_2_17_aarch64", False, False),
        ("py3-none-any", True, True),
    ],
)
def test_wheel_tags_that_do_not_fit_the_runtime_are_refused_by_name(
    tmp_path: Path, tag: str, ok_310: bool, ok_312: bool
) -> None:
    # given a staged distribution with one wheel tag
    _dist(tmp_path, "somelib", "1.0", tag=tag)
    # when judged for each runtime
    for runtime, ok in (("python3.10", ok_310), ("python3.12", ok_312)):
        problems = _problems(tmp_path, runtime)
        # then it is refused exactly where the tag cannot run, naming the distribution and its tags
        assert (problems == []) is ok, (runtime, problems)
        if not ok:
            assert problems[0].startswith("somelib 1.0: wheel tags ") and tag.split(".")[-1] in problems[0]
            assert problems[0].endswith(f"do not fit CPython {runtime[6:]} manylinux x86_64")


def test_what_is_staged_must_be_exactly_the_lock(tmp_path: Path) -> None:
    # given a staging with a stray distribution and one at another version than locked
    _dist(tmp_path, "redis", "8.0.0")
    _dist(tmp_path, "stray", "1.0")
    dists = staged_checks.staged_distributions(tmp_path)
    # when compared with the lock's pins
    problems = staged_checks.lock_problems(dists, {"redis": "8.1.0", "pyyaml": "6.0.4"})
    # then each difference is named
    assert problems == [
        "stray 1.0 was staged but is not in the lock",
        "redis: the lock pins 8.1.0, 8.0.0 was staged",
        "pyyaml==6.0.4 is in the lock but was not staged",
    ]


def test_dependencies_only_the_runtime_needs_are_required(tmp_path: Path) -> None:
    """pip would judge markers by the interpreter it runs on; the build judges them for the runtime."""
    # given aiohttp staged without the backport it needs below Python 3.11
    _dist(
        tmp_path,
        "aiohttp",
        "3.14.5",
        requires=('async-timeout<6.0,>=4.0; python_version < "3.11"', "yarl>=1.17"),
    )
    _dist(tmp_path, "yarl", "1.25.1", requires=('idna>=2.0; extra == "idna"',))
    dists = staged_checks.staged_distributions(tmp_path)
    # when the tree is walked for each runtime
    on_310 = staged_checks.unmet_requirements(
        dists, ["aiohttp"], fc.runtime("python3.10").marker_environment()
    )
    on_312 = staged_checks.unmet_requirements(
        dists, ["aiohttp", "yarl>=2"], fc.runtime("python3.12").marker_environment()
    )
    with_extra = staged_checks.unmet_requirements(
        dists, ["yarl[idna]"], fc.runtime("python3.12").marker_environment()
    )
    # then only python3.10 misses it; a version range is judged; an extra's requirements count
    assert on_310 == ["async-timeout<6.0,>=4.0 (needed by aiohttp 3.14.5) is not staged"]
    assert on_312 == ["yarl>=2 (needed by pyproject.toml) is not met by the staged 1.25.1"]
    assert with_extra == ["idna>=2.0 (needed by yarl 1.25.1) is not staged"]


def test_pip_is_offered_every_manylinux_the_runtime_glibc_runs_and_no_newer() -> None:
    # given the two runtimes (Debian 10: glibc 2.28; Debian 11: glibc 2.31)
    on_310 = fc.runtime("python3.10").pip_platforms()
    on_312 = fc.runtime("python3.12").pip_platforms()
    # then the newest fitting glibc comes first, the legacy aliases are there, nothing newer is
    assert on_310[0] == "manylinux_2_28_x86_64" and "manylinux_2_29_x86_64" not in on_310
    assert on_312[0] == "manylinux_2_31_x86_64" and "manylinux_2_32_x86_64" not in on_312
    for aliases in (on_310, on_312):
        assert {"manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux1_x86_64"} <= set(aliases)


def test_a_pyenv_style_shim_on_path_resolves_to_the_real_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given no pyenv versions, and on PATH only a shell shim pythonX.Y that execs a real interpreter
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    real = os.path.realpath(sys.executable)
    shim = tmp_path / "shims" / f"python{version}"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{real}" "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", f"{shim.parent}:/nonexistent")
    # when the interpreter is looked for
    found = fc.find_python(version)
    # then the binary the shim runs is returned, not the shim (a clean environment cannot run a shim)
    assert found == real and found != str(shim)


def test_a_missing_runtime_interpreter_fails_loudly_naming_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a machine with no Python 3.99
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    # when it is required
    with pytest.raises(SystemExit) as raised:
        fc.require_python("3.99")
    # then the failure says what is missing, where it looked and how to get it
    message = str(raised.value)
    assert "no Python 3.99 interpreter found" in message and "/usr/bin/python3.99" in message
    assert "pyenv install 3.99" in message


# --- slow: real builds ------------------------------------------------------------------------------


def _other_python() -> str:
    """The machine's own python3 (resolved past shims), with its own pip: the second build runs it."""
    found = shutil.which("python3")
    probed = fc.probe(found) if found else None
    if probed is None:
        raise AssertionError("no python3 on PATH to build the package a second time with")
    return probed[1]


def _pip_version(python: str) -> str:
    out = subprocess.run([python, "-m", "pip", "--version"], check=True, capture_output=True, text=True)
    return " ".join(out.stdout.split()[:2])


@pytest.fixture(scope="session")
def handler_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """handler/ as it is now: every build of the session packages the same code, even while it is edited."""
    snapshot = tmp_path_factory.mktemp("code") / "handler"
    shutil.copytree(REPO / "handler", snapshot, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return snapshot


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory, handler_snapshot: Path) -> dict[str, bp.Built]:
    """One zip per runtime, built (and run in the runtime's interpreter) by this interpreter and its pip."""
    out = tmp_path_factory.mktemp("packages")
    return {rt: bp.build(out / f"{rt}.zip", fc.runtime(rt), handler_dir=handler_snapshot) for rt in RUNTIMES}


@pytest.fixture(scope="session")
def names(packages: dict[str, bp.Built]) -> Iterator[dict[str, list[str]]]:
    listing = {}
    for rt, built in packages.items():
        with zipfile.ZipFile(built.path) as zf:
            listing[rt] = zf.namelist()
    yield listing


@BUILD_TIMEOUT
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_each_runtime_package_handles_an_event_in_a_clean_interpreter_of_that_runtime(
    packages: dict[str, bp.Built], runtime: str
) -> None:
    # given the zip built for the runtime (the build fails when the check does)
    check = packages[runtime].check
    # then it was imported by that runtime's Python, without site-packages, and rerun a job
    assert f"clean Python {fc.runtime(runtime).python}." in check
    assert "-I -S" in check and check.endswith("-> rerun")


@BUILD_TIMEOUT
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_package_holds_the_code_and_exactly_the_locked_distributions(
    names: dict[str, list[str]], runtime: str
) -> None:
    # given the zip's entries
    listing = names[runtime]
    dist_infos = {n.split("/")[0] for n in listing if ".dist-info/" in n}
    # then the handler is there, and one dist-info per pin at its version (minus installers)
    assert {"index.py", "ehpc_rerun/__init__.py", "ehpc_rerun/app.py"} <= set(listing)
    pins = lockfile.read_lock(fc.runtime(runtime).lock).pins
    stems = [d.removesuffix(".dist-info").rsplit("-", 1) for d in dist_infos]
    staged = {canonicalize_name(name): version for name, version in stems}
    assert staged == {p.name: p.version for p in pins.values()}


@BUILD_TIMEOUT
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_package_leaves_out_dev_only_code_caches_installers_and_install_records(
    names: dict[str, list[str]], runtime: str
) -> None:
    forbidden = [
        n
        for n in names[runtime]
        if n.startswith(("ehpc_rerun/simulator/", "ehpc_rerun/otsserver/", "pip/", "setuptools/", "bin/"))
        or n
        in {"ehpc_rerun/cli.py", "ehpc_rerun/cli_invoke.py", "ehpc_rerun/demo.py", "ehpc_rerun/localrun.py"}
        or "/__pycache__/" in f"/{n}"
        or n.endswith((".pyc", ".pth", "/RECORD", "/INSTALLER", "/REQUESTED", "/direct_url.json"))
        or any(part in {"tests", "test"} for part in n.split("/")[1:-1])
    ]
    assert not forbidden, forbidden[:20]
    assert any(n.endswith(".dist-info/METADATA") for n in names[runtime]), "importlib.metadata needs them"


@BUILD_TIMEOUT
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_package_is_byte_identical_whichever_python_and_pip_build_it(
    packages: dict[str, bp.Built], handler_snapshot: Path, runtime: str, tmp_path: Path
) -> None:
    # given the zip this interpreter built, and the machine's python3 with its own pip
    other = _other_python()
    out = tmp_path / f"{runtime}.zip"
    # when that one builds it too (the runtime check ran on the first build: same bytes, same result)
    script = str(REPO / "scripts" / "build_package.py")
    cmd = [other, script, "--runtime", runtime, "--out", str(out), "--handler-dir", str(handler_snapshot)]
    cmd.append("--skip-runtime-check")
    result = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=tmp_path, timeout=540)
    assert result.returncode == 0, result.stderr[-3000:]
    # then the two zips are the same bytes
    pips = f"{_pip_version(sys.executable)} ({sys.executable}) vs {_pip_version(other)} ({other})"
    assert out.read_bytes() == packages[runtime].path.read_bytes(), pips
    assert packages[runtime].sha256 in result.stdout


@BUILD_TIMEOUT
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_package_is_under_60_mb(packages: dict[str, bp.Built], runtime: str) -> None:
    assert packages[runtime].size < MAX_BYTES, f"{packages[runtime].size / 1_048_576:.1f} MB"


# pydantic-settings 2.16.3 (Requires-Python >= 3.11), the wheel the build staged for python3.10.
PYDANTIC_SETTINGS_2_16_3 = "sha256:d1db16a2d34006323a1b42c0640898da58adfbad7ec30baaa9e2b18aafc08999"


@BUILD_TIMEOUT
def test_a_lock_pinning_a_release_the_runtime_cannot_run_is_refused_naming_it(tmp_path: Path) -> None:
    # given a python3.10 lock with the release whose Requires-Python excludes 3.10
    lock = tmp_path / "bad-lock.txt"
    lock.write_text(f"pydantic-settings==2.16.3 --hash={PYDANTIC_SETTINGS_2_16_3}\n", encoding="utf-8")
    # when the package is built from it
    with pytest.raises(SystemExit) as raised:
        bp.build(tmp_path / "never.zip", fc.runtime("python3.10"), lock=lock)
    # then nothing is written, and the refusal names the distribution and why
    message = str(raised.value)
    assert "refusing to package for FC python3.10" in message
    assert "pydantic-settings 2.16.3: Requires-Python '>=3.11' excludes Python 3.10.0" in message
    assert not (tmp_path / "never.zip").exists()
