"""Every resource of template.yml, as ROS would create it, through the official ROS CDK validators.

The template is evaluated for each parameter combination that changes a resource
(:func:`scenarios.combinations`) and every resulting resource goes through the generated
``Ros<Resource>PropsValidator`` of @alicloud/ros-cdk-* (tests/deploy/ros_cdk/validate.js), which
also reports any property the CDK does not know.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from . import cdk
from .ros import Evaluation, intrinsic, load_template, walk
from .scenarios import combinations

T = load_template()
RESOURCE_TYPES = tuple(sorted({res["Type"] for res in T["Resources"].values()}))


def evaluated_resources() -> list[dict[str, Any]]:
    """One entry per distinct (resource, evaluated properties), named after its first scenario."""
    seen: set[str] = set()
    out = []
    for scenario, values in combinations().items():
        for name, res in Evaluation(T, values).resources().items():
            key = json.dumps([name, res["Properties"]], sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(
                    {"name": f"{name} [{scenario}]", "type": res["Type"], "properties": res["Properties"]}
                )
    return out


def test_the_cdk_rejects_what_ros_would_reject() -> None:
    """The check can fail: a bad value, a missing required property and an unknown one are reported."""
    # given a function with memory below FC's minimum, no handler, and a misspelt property
    broken = {
        "FunctionName": "ehpc-rerun",
        "Runtime": "python3.10",
        "MemorySize": 64,
        "Code": {"OssBucketName": "b", "OssObjectName": "o", "OssObjectKey": "o"},
        "EnviromentVariables": {"A": "b"},
    }
    # when the CDK validates it
    result = cdk.validate([{"name": "Broken", "type": "ALIYUN::FC3::Function", "properties": broken}])
    # then each problem is reported
    messages = [e["message"] for e in result["errors"]]
    assert any("memorySize: 64 is less than min value(128)" in m for m in messages), messages
    assert any(m.startswith("handler:") and "required" in m for m in messages), messages
    assert "unknown property EnviromentVariables" in messages
    assert "unknown property Code.OssObjectKey" in messages


def test_every_resource_in_every_parameter_combination_passes_the_ros_cdk_validators() -> None:
    # given every resource the template creates, for each combination of the parameters that matter
    resources = evaluated_resources()
    assert {r["type"] for r in resources} == set(RESOURCE_TYPES), "some resource type is never created"
    # when the ROS CDK validates them
    result = cdk.validate(resources)
    # then none has an error
    problems = [f"{e['resource']}: {e['message']}" for e in result["errors"]]
    assert not problems, "\n".join(problems)


def test_every_resource_type_is_known_to_the_ros_cdk() -> None:
    facts = cdk.type_facts(RESOURCE_TYPES)
    assert set(facts) == set(RESOURCE_TYPES)


@pytest.mark.parametrize("name", sorted(T["Resources"]))
def test_unevaluated_resource_uses_only_cdk_property_names(name: str) -> None:
    """The raw template too (both Fn::If branches of each property), with intrinsics as the CDK's tokens."""
    res = T["Resources"][name]
    known = set(cdk.type_facts(RESOURCE_TYPES)[res["Type"]]["properties"])
    assert set(res.get("Properties", {})) <= known, set(res.get("Properties", {})) - known


def test_every_getatt_names_an_attribute_the_cdk_declares() -> None:
    facts = cdk.type_facts(RESOURCE_TYPES)
    problems = []
    for path, node in walk({k: v for k, v in T.items() if k in ("Resources", "Outputs")}):
        fn = intrinsic(node)
        if fn and fn[0] == "Fn::GetAtt":
            resource, attribute = fn[1]
            attributes = facts[T["Resources"][resource]["Type"]]["attributes"]
            if attribute not in attributes:
                problems.append(f"{path}: {resource}.{attribute} not in {attributes}")
    assert not problems
