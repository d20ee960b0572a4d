"""Run the official ROS CDK validators (tests/deploy/ros_cdk/validate.js) from the deploy tests.

Node and the pinned @alicloud/ros-cdk-* packages are a test dependency: when either is missing the
calling test fails (never skips) and says how to install them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

CDK_DIR = Path(__file__).with_name("ros_cdk")
SCRIPT = CDK_DIR / "validate.js"
INSTALL = "npm ci --prefix tests/deploy/ros_cdk"


def _pinned() -> dict[str, str]:
    manifest = json.loads((CDK_DIR / "package.json").read_text(encoding="utf-8"))
    deps: dict[str, str] = manifest["dependencies"]
    return deps


def _check_installed() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not on PATH: install Node.js (>= 18), then run `{INSTALL}`")
    for package, version in _pinned().items():
        installed = CDK_DIR / "node_modules" / package / "package.json"
        if not installed.is_file():
            pytest.fail(f"{package} is not installed in {CDK_DIR}/node_modules: run `{INSTALL}`")
        found = json.loads(installed.read_text(encoding="utf-8"))["version"]
        if found != version:
            pytest.fail(f"{package} {found} is installed, package.json pins {version}: run `{INSTALL}`")
    return node


def validate(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"errors": [...], "types": {...}}`` for resources given as name, type and properties."""
    node = _check_installed()
    proc = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps({"resources": resources}),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=CDK_DIR,
        check=False,
    )
    assert proc.returncode == 0, f"validate.js failed ({proc.returncode}): {proc.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@cache
def type_facts(types: tuple[str, ...]) -> dict[str, dict[str, list[str]]]:
    """Per resource type, the CDK's top-level property names and Fn::GetAtt attributes."""
    found = validate([{"name": t, "type": t, "properties": {}} for t in types])
    missing = [e for e in found["errors"] if e["message"] == "no ROS CDK class for this type"]
    assert not missing, f"resource types the ROS CDK does not know: {[e['type'] for e in missing]}"
    facts: dict[str, dict[str, list[str]]] = found["types"]
    return facts
