"""The locks (locks/fc-<runtime>.txt) agree with pyproject.toml: offline, with packaging's own rules.

A change to ``[project].dependencies`` without ``python scripts/lock.py`` fails here, naming what differs.
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.tags import parse_tag
from packaging.utils import parse_wheel_filename

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import fc_runtimes as fc  # noqa: E402
import lockfile  # noqa: E402

RUNTIMES = sorted(fc.RUNTIMES)
DEPENDENCIES = lockfile.read_dependencies(REPO / "pyproject.toml")


def _lock(name: str) -> lockfile.Lock:
    return lockfile.read_lock(fc.runtime(name).lock)


def _env(name: str) -> dict[str, str]:
    return fc.runtime(name).marker_environment()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_each_runtime_lock_is_the_resolution_of_pyproject_dependencies(runtime: str) -> None:
    # given the committed lock of the runtime and pyproject.toml's runtime dependencies
    lock = _lock(runtime)
    # when they are compared for that runtime
    problems = lockfile.disagreements(DEPENDENCIES, lock, _env(runtime))
    # then every dependency is pinned at an allowed version, and every pin is needed and hashed
    assert problems == [], problems
    assert len(lock.pins) > len(DEPENDENCIES)  # the transitive ones are pinned too
    assert all(h.startswith("sha256:") and len(h) == 71 for p in lock.pins.values() for h in p.hashes)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_dependency_added_to_pyproject_without_relocking_is_named(runtime: str) -> None:
    # given pyproject asks for one more distribution than was locked
    deps = [*DEPENDENCIES, "httpx>=0.27"]
    # when compared
    problems = lockfile.disagreements(deps, _lock(runtime), _env(runtime))
    # then the check names it
    assert problems == ["httpx>=0.27 (pyproject.toml) is not in the lock"]


def test_a_range_tightened_past_the_locked_version_is_named() -> None:
    # given pyproject now wants a pydantic newer than the locked one
    lock = _lock("python3.10")
    locked = lock.pins["pydantic"].version
    deps = [d for d in DEPENDENCIES if not d.startswith("pydantic>")] + ["pydantic>=99"]
    # when compared
    problems = lockfile.disagreements(deps, lock, _env("python3.10"))
    # then the check says which requirement the locked version fails
    assert problems == [f"pydantic>=99 (pyproject.toml) does not allow the locked pydantic=={locked}"]


def test_a_dependency_dropped_from_pyproject_leaves_pins_that_are_named() -> None:
    # given pyproject no longer asks for pyyaml (which nothing else needs)
    lock = _lock("python3.12")
    deps = [d for d in DEPENDENCIES if not d.startswith("pyyaml")]
    # when compared
    problems = lockfile.disagreements(deps, lock, _env("python3.12"))
    # then the stale pin is named
    version = lock.pins["pyyaml"].version
    assert problems == [f"pyyaml=={version} is locked via pyproject.toml, which no longer asks for it"]


def test_a_pin_nothing_leads_to_is_named() -> None:
    # given a lock with a pin whose only parent is not reached from pyproject.toml
    text = fc.runtime("python3.10").lock.read_text(encoding="utf-8")
    text += "orphan-lib==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via lonely-lib\n"
    text += "lonely-lib==2.0 \\\n    --hash=sha256:" + "1" * 64 + "\n    # via orphan-lib\n"
    # when compared
    problems = lockfile.disagreements(DEPENDENCIES, lockfile.parse_lock(text), _env("python3.10"))
    # then both are named as needed by nothing
    assert problems == [
        "lonely-lib==2.0 is not needed by anything",
        "orphan-lib==1.0 is not needed by anything",
    ]


def test_markers_are_judged_for_the_runtime_not_for_the_interpreter_running_the_check() -> None:
    # given a dependency only Python < 3.11 needs
    deps = [*DEPENDENCIES, 'tomli>=2; python_version < "3.11"']
    # when compared with each runtime's lock
    on_310 = lockfile.disagreements(deps, _lock("python3.10"), _env("python3.10"))
    on_312 = lockfile.disagreements(deps, _lock("python3.12"), _env("python3.12"))
    # then python3.10 lacks it, python3.12 does not need it
    assert on_310 == ['tomli>=2; python_version < "3.11" (pyproject.toml) is not in the lock']
    assert on_312 == []


def test_a_pin_naming_a_parent_the_lock_does_not_have_is_named() -> None:
    # given a lock whose annotation says a pin is needed by something it does not pin
    text = fc.runtime("python3.10").lock.read_text(encoding="utf-8")
    text = text.replace("    # via aiohttp\n", "    # via aiohttp, ghost-package\n", 1)
    # when compared
    problems = lockfile.disagreements(DEPENDENCIES, lockfile.parse_lock(text), _env("python3.10"))
    # then the unknown parent is named
    assert (
        len(problems) == 1 and "which the lock does not pin" in problems[0] and "ghost-package" in problems[0]
    )


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_runtime_specific_pins_differ_where_requires_python_says_so(runtime: str) -> None:
    # given the two locks
    pins = _lock(runtime).pins
    # then only python3.10 carries the backport aiohttp needs below 3.11 (python_version < "3.11")
    assert ("async-timeout" in pins) is (runtime == "python3.10")


def test_every_vendored_wheel_is_pure_python_and_pinned_by_its_own_hash() -> None:
    # given the wheels built from sdist-only pins
    wheels = sorted((fc.LOCK_DIR / "wheels").glob("*.whl"))
    assert wheels, "the Alibaba Cloud SDK has sdist-only parts: locks/wheels/ holds their wheels"
    for wheel in wheels:
        name, version, _, tags = parse_wheel_filename(wheel.name)
        digest = "sha256:" + hashlib.sha256(wheel.read_bytes()).hexdigest()
        # then each is py3-none-any, fits every runtime, and is what each lock pins
        assert all(t.abi == "none" and t.platform == "any" for t in tags), wheel.name
        with zipfile.ZipFile(wheel) as zf:
            tag_lines = [
                line.split(":", 1)[1].strip()
                for line in zf.read(f"{name.replace('-', '_')}-{version}.dist-info/WHEEL")
                .decode()
                .splitlines()
                if line.startswith("Tag:")
            ]
        for runtime in RUNTIMES:
            lock = _lock(runtime)
            pin = lock.pins[name]
            assert pin.version == str(version) and pin.hashes == [digest], (runtime, wheel.name)
            assert "--find-links wheels" in lock.options
            assert any(
                t in fc.runtime(runtime).supported_tags() for line in tag_lines for t in parse_tag(line)
            )


def test_the_lock_names_the_command_that_refreshes_it() -> None:
    for runtime in RUNTIMES:
        header = fc.runtime(runtime).lock.read_text(encoding="utf-8").split("\n\n", 1)[0]
        assert "`python scripts/lock.py`" in header and runtime in header


def test_a_lock_renders_and_parses_back_the_same() -> None:
    # given a parsed lock
    lock = _lock("python3.12")
    # when rendered and parsed again
    again = lockfile.parse_lock(lockfile.render_lock(["header"], lock))
    # then nothing is lost
    assert again == lock
