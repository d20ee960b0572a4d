"""scripts/build_package.py builds a self-contained, deterministic FC code zip.

The full builds download wheels from the package index with pip (about 15 s each with a warm cache).
FC runs python3.10. The package is built for the interpreter running the tests (3.11 here) so a
clean subprocess of that same interpreter can import it: a cp310 build cannot be imported by 3.11
(compiled pydantic-core is per minor version). When a real Python 3.10 is found (PYTHON310, PATH or
pyenv), the cp310 build the function ships is imported with it as well; otherwise that test skips.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_BYTES = 60 * 1_048_576
LOCAL_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def _load_build_package() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_package", REPO / "scripts" / "build_package.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_package"] = module
    spec.loader.exec_module(module)
    return module


bp = _load_build_package()


def _clean_import(python: str, root: Path) -> subprocess.CompletedProcess[str]:
    """Import the handler and every top-level package of the zip with no site-packages at all.

    -I: isolated (no PYTHON* variables, no user site); -S: no ``site``, so neither the venv's nor the
    base interpreter's site-packages are on sys.path. Only the stdlib and the unpacked zip remain.
    """
    code = textwrap.dedent(
        f"""
        import importlib, os, sys
        root = {str(root)!r}
        sys.path.insert(0, root)
        assert not [p for p in sys.path if "site-packages" in p or "dist-packages" in p], sys.path
        import index
        assert callable(index.handler) and callable(index.initialize)
        print("handler", index.handler)
        names = sorted(
            n.split(".")[0] for n in os.listdir(root)
            if not n.endswith(".dist-info")
            and (os.path.isfile(os.path.join(root, n, "__init__.py")) or n.endswith((".py", ".so")))
        )
        for name in names:
            module = importlib.import_module(name)
            origin = getattr(module, "__file__", "") or ""
            assert origin.startswith(root), (name, origin)
        print("imported", len(names))
        """
    )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [python, "-I", "-S", "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )


def _base_python() -> str:
    """The interpreter behind the venv, so the venv's site-packages cannot leak in either way."""
    return getattr(sys, "_base_executable", None) or sys.executable


def _find_python310() -> str | None:
    candidates = [os.environ.get("PYTHON310"), shutil.which("python3.10")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(p) for p in sorted(pyenv.glob("3.10*/bin/python3.10"))]
    candidates += ["/usr/bin/python3.10", "/usr/local/bin/python3.10"]
    for candidate in candidates:
        if not candidate or not Path(candidate).exists():
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "3.10":
            return candidate
    return None


BUILD_TIMEOUT = pytest.mark.timeout(300)  # pip downloads: margin over the suite's 120 s default


@pytest.fixture(scope="module")
def local_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    if not (REPO / "handler" / "index.py").is_file():
        pytest.skip("handler/index.py does not exist yet")
    out = tmp_path_factory.mktemp("pkg") / "ehpc-rerun-fc.zip"
    bp.build(out, LOCAL_VERSION)
    root = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(out) as zf:
        zf.extractall(root)
    yield out, root


# --- fast: the pieces ------------------------------------------------------------------------------


def _fake_handler(root: Path) -> Path:
    files = [
        "index.py",
        "ehpc_rerun/__init__.py",
        "ehpc_rerun/app.py",
        "ehpc_rerun/cli.py",
        "ehpc_rerun/demo.py",
        "ehpc_rerun/localrun.py",
        "ehpc_rerun/py.typed",
        "ehpc_rerun/rules/default.yaml",
        "ehpc_rerun/simulator/__init__.py",
        "ehpc_rerun/simulator/server.py",
        "ehpc_rerun/simulator/fixtures.json",
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
    handler = _fake_handler(tmp_path / "handler")
    staging = tmp_path / "staging"
    staging.mkdir()
    count = bp.stage_handler(handler, staging)
    staged = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
    assert staged == [
        "ehpc_rerun/__init__.py",
        "ehpc_rerun/app.py",
        "ehpc_rerun/py.typed",
        "ehpc_rerun/rules/default.yaml",
        "index.py",
    ]
    assert count == len(staged)


def test_zip_is_byte_identical_for_the_same_tree(tmp_path: Path) -> None:
    tree = _fake_handler(tmp_path / "tree")
    (tree / "run.sh").write_text("#!/bin/sh\n", encoding="utf-8")
    (tree / "run.sh").chmod(0o755)
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    bp.write_zip(tree, first)
    os.utime(tree / "index.py", (1_000_000_000, 1_000_000_000))  # mtimes must not matter
    bp.write_zip(tree, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in infos}
    assert modes["run.sh"] == 0o755 and modes["index.py"] == 0o644


def _dist(root: Path, name: str, version: str, requires: list[str]) -> None:
    info = root / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"]
    lines += [f"Requires-Dist: {r}\n" for r in requires]
    (info / "METADATA").write_text("".join(lines), encoding="utf-8")


def test_dependencies_only_the_target_python_needs_are_found(tmp_path: Path) -> None:
    """pip judges markers by the interpreter it runs on; the build judges them for the target."""
    _dist(tmp_path, "aiohttp", "3.14.5", ['async-timeout<6.0,>=4.0; python_version < "3.11"', "yarl>=1.17"])
    _dist(tmp_path, "redis", "8.1.0", ["async-timeout>=4.0.3; python_full_version < '3.11.3'"])
    _dist(tmp_path, "yarl", "1.25.1", ['idna>=2.0; extra == "idna"'])
    top = ["aiohttp", "redis>=5"]
    assert bp.unmet_requirements(tmp_path, top, bp.target_environment("3.10")) == [
        "async-timeout<6.0,>=4.0,>=4.0.3"
    ]
    assert bp.unmet_requirements(tmp_path, top, bp.target_environment("3.12")) == []
    assert bp.unmet_requirements(tmp_path, ["yarl[idna]"], bp.target_environment("3.10")) == ["idna>=2.0"]


def test_dependency_markers_of_the_project_itself_are_judged_for_the_target() -> None:
    env = bp.target_environment("3.10")
    assert bp.applicable(['tomli>=2; python_version < "3.11"', "redis>=5"], env) == ["tomli>=2", "redis>=5"]
    assert bp.applicable(['tomli>=2; python_version < "3.11"'], bp.target_environment("3.11")) == []
    assert bp.read_dependencies(REPO / "pyproject.toml"), "runtime dependencies come from pyproject"


# --- slow-ish: real builds (pip downloads wheels) ------------------------------------------------


@BUILD_TIMEOUT
def test_package_leaves_out_dev_only_code_caches_and_installers(local_package: tuple[Path, Path]) -> None:
    out, _ = local_package
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
    assert "index.py" in names
    assert "ehpc_rerun/__init__.py" in names
    forbidden = [
        n
        for n in names
        if n.startswith(("ehpc_rerun/simulator/", "pip/", "setuptools/", "bin/"))
        or n in {"ehpc_rerun/cli.py", "ehpc_rerun/demo.py", "ehpc_rerun/localrun.py"}
        or "/__pycache__/" in f"/{n}"
        or n.endswith((".pyc", ".pth", "/RECORD", "/direct_url.json"))
        or any(part in {"tests", "test"} for part in n.split("/")[1:-1])
    ]
    assert not forbidden, forbidden[:20]
    assert any(n.endswith(".dist-info/METADATA") for n in names), "metadata stays for importlib.metadata"


@BUILD_TIMEOUT
def test_package_imports_in_a_clean_interpreter_without_site_packages(
    local_package: tuple[Path, Path],
) -> None:
    _, root = local_package
    result = _clean_import(_base_python(), root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "handler <function handler" in result.stdout


@BUILD_TIMEOUT
def test_package_is_under_60_mb(local_package: tuple[Path, Path]) -> None:
    out, _ = local_package
    assert out.stat().st_size < MAX_BYTES, f"{out.stat().st_size / 1_048_576:.1f} MB"


@BUILD_TIMEOUT
def test_python310_package_imports_under_python310(tmp_path: Path) -> None:
    """The artefact FC runs: built for cp310 from this interpreter, imported by a real 3.10."""
    python310 = _find_python310()
    if python310 is None:
        pytest.skip("no Python 3.10 interpreter here (set PYTHON310 to one)")
    if not (REPO / "handler" / "index.py").is_file():
        pytest.skip("handler/index.py does not exist yet")
    out = tmp_path / "ehpc-rerun-fc.zip"
    bp.build(out, "3.10")
    root = tmp_path / "unpacked"
    with zipfile.ZipFile(out) as zf:
        zf.extractall(root)
        names = zf.namelist()
    assert any(n.startswith("async_timeout/") for n in names), "aiohttp needs it below Python 3.11"
    result = _clean_import(python310, root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.stat().st_size < MAX_BYTES
