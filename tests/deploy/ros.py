"""Reading template.yml the way ROS would: intrinsic functions, conditions, documented shapes.

Only what the deploy tests need: walk a template, expand ``Fn::If`` into both branches, and evaluate
the template for a given set of parameter values (a small, strict subset of ROS's engine: Ref,
Fn::If, Fn::Sub (with or without a variable map), Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split,
Fn::Equals/Not/And/Or, ALIYUN::NoValue and the template's Rules).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yml"
S_YAML = REPO / "s.yaml"
SPECS = Path(__file__).with_name("ros_resource_specs.json")

NO_VALUE = "ALIYUN::NoValue"
SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")
INTRINSICS = frozenset(
    {
        "Ref",
        "Fn::If",
        "Fn::Sub",
        "Fn::GetAtt",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::Equals",
        "Fn::Not",
        "Fn::And",
        "Fn::Or",
        "Fn::FindInMap",
        "Fn::Str",
        "Fn::Base64Encode",
    }
)


def _load(path: Path) -> dict[str, Any]:
    # safe_load: the templates use only the long `Ref:` / `Fn::...:` map forms, no YAML tags.
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh) if path.suffix == ".json" else yaml.safe_load(fh)
    assert isinstance(data, dict)
    return data


@cache
def load_template() -> dict[str, Any]:
    return _load(TEMPLATE)


@cache
def load_s_yaml() -> dict[str, Any]:
    return _load(S_YAML)


@cache
def load_specs() -> dict[str, Any]:
    return _load(SPECS)


def intrinsic(node: Any) -> tuple[str, Any] | None:
    """``(name, argument)`` when ``node`` is a one-key intrinsic function map."""
    if isinstance(node, dict) and len(node) == 1:
        ((key, arg),) = node.items()
        if key in INTRINSICS:
            return key, arg
    return None


def is_no_value(node: Any) -> bool:
    return bool(node == {"Ref": NO_VALUE})


def branches(node: Any) -> Iterator[Any]:
    """Every concrete value ``node`` can take: both sides of each ``Fn::If``, never NoValue."""
    fn = intrinsic(node)
    if fn and fn[0] == "Fn::If":
        _, then, other = fn[1]
        yield from branches(then)
        yield from branches(other)
    elif not is_no_value(node):
        yield node


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, node) pair below ``node``, depth first."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}/{index}")


def sub_names(text: str) -> list[str]:
    """The ``${...}`` references of an ``Fn::Sub`` string."""
    return SUB_VAR.findall(text)


def sub_text(arg: Any) -> str:
    if isinstance(arg, list):
        return str(arg[0])
    return str(arg)


@dataclass
class Evaluation:
    """The template evaluated for one set of parameter values, the way ROS would create it."""

    template: dict[str, Any]
    parameters: dict[str, Any]
    pseudo: dict[str, str] = field(
        default_factory=lambda: {
            "ALIYUN::Region": "cn-hangzhou",
            "ALIYUN::AccountId": "1234567890123456",
            "ALIYUN::TenantId": "1234567890123456",
            "ALIYUN::StackName": "ehpc-rerun",
            "ALIYUN::StackId": "4a6c9851-3b0f-4f5f-b4ca-a14bf6910000",
        }
    )

    def __post_init__(self) -> None:
        declared = self.template.get("Parameters", {})
        unknown = set(self.parameters) - set(declared)
        assert not unknown, f"not template parameters: {sorted(unknown)}"
        values = {}
        for name, decl in declared.items():
            if name in self.parameters:
                values[name] = self.parameters[name]
                if decl.get("Type") == "Number":  # ROS passes a Number parameter on as a number
                    values[name] = float(values[name]) if "." in str(values[name]) else int(values[name])
            else:
                assert "Default" in decl, f"parameter {name} has no Default: the test must give a value"
                values[name] = decl["Default"]
        self.values = values
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.cond(self.template["Conditions"][name]))
        return self._conditions[name]

    def cond(self, node: Any) -> Any:
        fn = intrinsic(node)
        if fn is None:
            if isinstance(node, str) and node in self.template.get("Conditions", {}):
                return self.condition(node)
            return node
        name, arg = fn
        if name == "Fn::Equals":
            left, right = (self.value(a) for a in arg)
            return str(left) == str(right)
        if name == "Fn::Not":
            inner = arg[0] if isinstance(arg, list) else arg
            return not self.cond(inner)
        if name == "Fn::And":
            return all(self.cond(a) for a in arg)
        if name == "Fn::Or":
            return any(self.cond(a) for a in arg)
        return self.value(node)

    def value(self, node: Any) -> Any:
        fn = intrinsic(node)
        if fn is not None:
            name, arg = fn
            if name == "Ref":
                if arg == NO_VALUE:
                    return NO_VALUE
                if arg in self.pseudo:
                    return self.pseudo[arg]
                if arg in self.values:
                    return self.values[arg]
                return f"<ref {arg}>"  # a resource: its physical id
            if name == "Fn::If":
                cond_name, then, other = arg
                return self.value(then if self.condition(cond_name) else other)
            if name == "Fn::Sub":
                local = {k: self.value(v) for k, v in arg[1].items()} if isinstance(arg, list) else {}
                return SUB_VAR.sub(
                    lambda m: str(local[m.group(1)] if m.group(1) in local else self._sub(m.group(1))),
                    sub_text(arg),
                )
            if name == "Fn::Join":
                delimiter, items = arg
                return str(delimiter).join(str(self.value(i)) for i in self.value(items))
            if name == "Fn::Select":
                index, items = arg
                return self.value(items)[int(index)]
            if name == "Fn::Split":
                delimiter, text = arg
                return str(self.value(text)).split(str(delimiter))
            if name == "Fn::GetAtt":
                return self._attribute(arg[0], arg[1])
            if name in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
                return self.cond(node)
            raise AssertionError(f"the test evaluator does not know {name}")
        if isinstance(node, dict):
            out = {k: self.value(v) for k, v in node.items()}
            return {k: v for k, v in out.items() if v != NO_VALUE}
        if isinstance(node, list):
            return [v for v in (self.value(x) for x in node) if v != NO_VALUE]
        return node

    def _sub(self, name: str) -> Any:
        if "." in name:
            res, attr = name.split(".", 1)
            return self._attribute(res, attr)
        return self.value({"Ref": name})

    def _attribute(self, resource: str, attribute: str) -> Any:
        """An attribute that echoes a property (InstanceName, RoleName, ...) is that property's value;
        any other (an ARN, a URL) a placeholder string."""
        props = self.template["Resources"].get(resource, {}).get("Properties", {})
        if attribute in props:
            return self.value(props[attribute])
        return f"<{resource}.{attribute}>"

    def broken_rules(self) -> list[str]:
        """The AssertDescription of every ROS Rule assertion these parameter values fail."""
        broken = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.cond(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.cond(assertion["Assert"]):
                    broken.append(str(assertion.get("AssertDescription", assertion["Assert"])))
        return broken

    def resources(self) -> dict[str, dict[str, Any]]:
        """The resources ROS would create, with their properties evaluated."""
        out = {}
        for name, res in self.template["Resources"].items():
            if "Condition" in res and not self.condition(res["Condition"]):
                continue
            out[name] = {"Type": res["Type"], "Properties": self.value(res.get("Properties", {}))}
        return out


def settings_env_names() -> dict[str, str]:
    """``{EHPC_RERUN_<FIELD>: field}`` for every field of the function's Settings."""
    from ehpc_rerun.settings import Settings, env_name

    return {env_name(name): name for name in Settings.model_fields}


def parameter_refs(node: Any) -> set[str]:
    """Names referenced with Ref or ${...} anywhere in ``node``."""
    names: set[str] = set()
    for _, sub in walk(node):
        fn = intrinsic(sub)
        if fn and fn[0] == "Ref" and isinstance(fn[1], str):
            names.add(fn[1])
        elif fn and fn[0] == "Fn::Sub":
            local = set(fn[1][1]) if isinstance(fn[1], list) else set()
            names.update(n for n in sub_names(sub_text(fn[1])) if "." not in n and n not in local)
    return names


def as_mapping(node: Any) -> dict[str, Any]:
    assert isinstance(node, dict), f"expected a map, got {node!r}"
    return node
