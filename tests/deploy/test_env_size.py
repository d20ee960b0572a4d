"""FC allows 4 KB for all of a function's environment variables together ("Configure environment
variables", https://www.alibabacloud.com/help/en/functioncompute/fc/environment-variables); the
template must not let any set of parameter values overflow it.

The worst case is computed from the template itself: every parameter at its MaxLength (or its longest
AllowedValue), every Fn::If on its longer branch. Which form FC measures (names and values, or the
JSON document of the map) is not documented, so the bound is taken on the larger one: the JSON map,
with every character of a free-text value escaped (two bytes).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .ros import Evaluation, intrinsic, is_no_value, load_template, sub_text
from .scenarios import ALL_ON

T = load_template()
PARAMS = T["Parameters"]
FC_ENV_LIMIT = 4096
# Longest values of the pseudo parameters the environment uses: region ids are at most ~25
# characters (cn-shanghai-finance-1), account ids 16 digits.
PSEUDO_MAX = {"ALIYUN::Region": 32, "ALIYUN::TenantId": 20, "ALIYUN::AccountId": 20, "ALIYUN::StackId": 36}
CHAR_CLASS = re.compile(r"\[(\^?)((?:\\.|[^\]])*)\]")  # [...] and [^...] in an AllowedPattern
JSON_ESCAPED = re.compile(r"[ !]-~|\\[tnr]|\"|\\\\")  # a class admitting '"', '\\' or tab/newline


def bytes_per_char(decl: dict[str, Any]) -> int:
    """Bytes one character of the parameter can take in the JSON map. Hand-written (no library bounds
    what a regular expression admits), from the AllowedPattern's text: 6 when non-ASCII or control
    characters may appear (a JSON \\uXXXX escape), 2 when '"', '\\' or a tab/newline may (escaped),
    else 1."""
    pattern = decl.get("AllowedPattern")
    if "AllowedValues" in decl:
        return 1
    if pattern is None:
        return 6
    classes = CHAR_CLASS.findall(pattern)
    outside = CHAR_CLASS.sub("", pattern)
    if re.search(r"(?<!\\)\.|\\[SWDwsd]", outside) or any(
        negated or re.search(r"\\[SWDwsd]", body) for negated, body in classes
    ):
        return 6
    return 2 if any(JSON_ESCAPED.search(body) for _, body in classes) else 1


def max_len(node: Any) -> int:
    fn = intrinsic(node)
    if fn is None:
        assert isinstance(node, str), f"an environment value must be a string: {node!r}"
        return len(node.encode())
    name, arg = fn
    if name == "Ref":
        if arg in PSEUDO_MAX:
            return PSEUDO_MAX[arg]
        decl = PARAMS[arg]
        if "AllowedValues" in decl:
            return max(len(str(v)) for v in decl["AllowedValues"])
        assert "MaxLength" in decl, f"parameter {arg} reaches the environment without a MaxLength"
        return int(decl["MaxLength"]) * bytes_per_char(decl)
    if name == "Fn::If":
        return max(0 if is_no_value(b) else max_len(b) for b in arg[1:])
    if name == "Fn::Sub":
        local = arg[1] if isinstance(arg, list) else {}
        text = sub_text(arg)
        total = len(re.sub(r"\$\{[^}]+\}", "", text).encode())
        for ref in re.findall(r"\$\{([^}]+)\}", text):
            total += max_len(local[ref]) if ref in local else max_len({"Ref": ref})
        return total
    if name == "Fn::Join":
        delimiter, items = arg
        return sum(max_len(i) for i in items) + len(delimiter) * max(len(items) - 1, 0)
    if name == "Fn::Select":
        _, items = arg
        split = intrinsic(items)
        assert split and split[0] == "Fn::Split", "Fn::Select of a Fn::Split only"
        return max_len(split[1][1])
    raise AssertionError(f"no worst case for {name} in the environment")


def worst_case() -> int:
    env = T["Resources"]["Function"]["Properties"]["EnvironmentVariables"]
    values = {name: max_len(value) for name, value in env.items()}
    # JSON: {"NAME":"VALUE",...}: quotes, colon and comma per variable, braces once.
    return 2 + sum(len(name) + size + 6 for name, size in values.items())


def test_the_worst_case_environment_fits_in_fc_s_4_kb() -> None:
    assert worst_case() <= FC_ENV_LIMIT, f"worst case {worst_case()} bytes > {FC_ENV_LIMIT}"


def test_the_worst_case_bound_is_above_a_real_full_environment() -> None:
    """The bound can fail: an evaluated everything-on environment is smaller, and a rule document at
    its MaxLength really produces a variable of that size."""
    rules = "x" * int(PARAMS["DetectorRules"]["MaxLength"])
    env = Evaluation(T, {**ALL_ON, "DetectorRules": rules}).resources()["Function"]["Properties"]
    actual = len(json.dumps(env["EnvironmentVariables"], separators=(",", ":")).encode())
    assert actual <= worst_case()
    assert env["EnvironmentVariables"]["EHPC_RERUN_DETECTOR_RULES"] == rules


def test_the_rule_document_limit_uses_most_of_what_is_left() -> None:
    """DetectorRules gets the room the other variables leave, not an arbitrary small number."""
    decl = PARAMS["DetectorRules"]
    spare = FC_ENV_LIMIT - worst_case()
    assert 0 <= spare < 512, f"{spare} bytes left over: raise DetectorRules' MaxLength"
    assert bytes_per_char(decl) == 2, "tab/newline in the document: JSON writes them as two bytes"


def test_every_free_text_parameter_in_the_environment_is_bounded() -> None:
    env = T["Resources"]["Function"]["Properties"]["EnvironmentVariables"]
    for name, value in env.items():
        assert max_len(value) > 0, name
