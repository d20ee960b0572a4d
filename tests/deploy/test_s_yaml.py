"""s.yaml (Serverless Devs, fc3 component) describes the same function as template.yml, and passes the
fc3 component's published JSON schema (fc3_schema.json) and the FC 3.0 API models."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ehpc_rerun.settings import load_settings

from .fc3_schema import props_errors, trigger_config_errors
from .fc_models import trigger_config_problems
from .ros import as_mapping, load_s_yaml, load_template, settings_env_names

S = load_s_yaml()
T = load_template()
VARS = S["vars"]
ENV_REF = re.compile(r"^\$\{env\('([A-Z][A-Z0-9_]*)'\)\}$")
VARS_REF = re.compile(r"^\$\{vars\.([A-Za-z0-9_]+)\}$")
SECRET_VARS = {
    "EHPC_RERUN_STATE",
    "EHPC_RERUN_HTTP_SECRET",
    "EHPC_RERUN_HTTP_ALERT_TOKEN",
    "EHPC_RERUN_DINGTALK_WEBHOOK",
    "EHPC_RERUN_DINGTALK_SECRET",
}


def props() -> dict[str, Any]:
    (resource,) = S["resources"].values()
    assert resource["component"] == "fc3"
    return as_mapping(resource["props"])


def template_function() -> dict[str, Any]:
    (function,) = (r["Properties"] for r in T["Resources"].values() if r["Type"] == "ALIYUN::FC3::Function")
    return as_mapping(function)


def template_triggers() -> dict[str, dict[str, Any]]:
    return {
        res["Properties"]["TriggerName"]: {"resource": name, **res}
        for name, res in T["Resources"].items()
        if res["Type"] == "ALIYUN::FC3::Trigger"
    }


def resolved(node: Any) -> Any:
    """``node`` as Serverless Devs would hand it to fc3: ${vars.x} replaced, ${env('X')} a sample string."""
    if isinstance(node, dict):
        return {k: resolved(v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolved(v) for v in node]
    if isinstance(node, str) and (ref := VARS_REF.match(node)):
        return VARS[ref.group(1)]
    if isinstance(node, str) and (env := ENV_REF.match(node)):
        return f"sample-{env.group(1).lower()}"
    return node


def is_parameter(node: Any) -> bool:
    """A value each file takes from its own inputs: a ROS Ref/Fn::*, an s.yaml ${...}."""
    if isinstance(node, dict) and len(node) == 1:
        return str(next(iter(node))).startswith(("Ref", "Fn::"))
    return isinstance(node, str) and node.startswith("${")


def differences(s_node: Any, ros_node: Any, path: str = "") -> list[str]:
    """Where the two descriptions disagree: keys everywhere, values where both are literal."""
    if is_parameter(s_node) or is_parameter(ros_node):
        return []
    if isinstance(s_node, dict) and isinstance(ros_node, dict):
        if set(s_node) != set(ros_node):
            return [f"{path}: keys {sorted(s_node)} != {sorted(ros_node)}"]
        return [d for k in s_node for d in differences(s_node[k], ros_node[k], f"{path}.{k}")]
    if isinstance(s_node, list) and isinstance(ros_node, list) and len(s_node) == len(ros_node):
        return [
            d
            for i, (a, b) in enumerate(zip(s_node, ros_node, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    return [] if s_node == ros_node else [f"{path}: {s_node!r} != {ros_node!r}"]


def test_s_yaml_is_a_serverless_devs_3_fc3_project() -> None:
    assert S["edition"] == "3.0.0"
    assert list(S["resources"]) == ["ehpc-rerun"]
    assert props()["region"] == "${vars.region}"


def test_s_yaml_function_matches_the_template_function() -> None:
    p, f = props(), template_function()
    params = T["Parameters"]
    assert p["runtime"] == f["Runtime"] == "python3.10"
    assert p["handler"] == f["Handler"] == "index.handler"
    init = p["instanceLifecycleConfig"]["initializer"]
    assert init["handler"] == f["InstanceLifecycleConfig"]["Initializer"]["Handler"] == "index.initialize"
    assert init["timeout"] == f["InstanceLifecycleConfig"]["Initializer"]["Timeout"]
    assert p["timeout"] == params["Timeout"]["Default"]
    assert p["memorySize"] == params["MemorySize"]["Default"]
    assert p["internetAccess"] is f["InternetAccess"] is True
    assert VARS["functionName"] == params["FunctionName"]["Default"]
    assert p["functionName"] == "${vars.functionName}"


def test_s_yaml_sets_the_same_environment_variables_as_the_template() -> None:
    assert set(props()["environmentVariables"]) == set(template_function()["EnvironmentVariables"])
    assert set(props()["environmentVariables"]) <= set(settings_env_names())


def test_s_yaml_defaults_equal_the_template_defaults() -> None:
    params = T["Parameters"]
    pairs = {
        "dryRun": "DryRun",
        "maxJobsPerInvocation": "MaxJobsPerInvocation",
        "httpAuthType": "HttpAuthType",
        "timerCron": "TimerCron",
        "detectorClusters": "DetectorClusters",
        "detectorRules": "DetectorRules",
        "detectorReportOnly": "DetectorReportOnly",
        "nodeCheckInScan": "NodeCheckInScan",
        "denyClusters": "DenyClusters",
        "sinkEventBusName": "SinkEventBusName",
    }
    for var, param in pairs.items():
        assert VARS[var] == params[param]["Default"], var


def test_s_yaml_reads_secrets_from_the_environment_only() -> None:
    env = props()["environmentVariables"]
    for name in SECRET_VARS:
        match = ENV_REF.match(str(env[name]))
        assert match and match.group(1) == name, f"{name} must be ${{env('{name}')}}"
    for name, raw in env.items():
        value = str(raw)
        assert ENV_REF.match(value) or VARS_REF.match(value), f"{name}: literal value {value!r}"
        ref = VARS_REF.match(value)
        if ref:
            assert ref.group(1) in VARS, name
    assert ENV_REF.match(props()["role"]), "the role ARN is per account: from the environment"


def test_s_yaml_defines_every_template_trigger() -> None:
    defined = {t["triggerName"]: t for t in VARS["triggers"].values()}
    expected = template_triggers()
    assert set(defined) == set(expected)
    for name, trigger in defined.items():
        ros = expected[name]["Properties"]
        assert trigger["triggerType"] == ros["TriggerType"], name
        assert not differences(trigger["triggerConfig"], ros["TriggerConfig"], name)
        assert ("sourceArn" in trigger) == ("SourceArn" in ros), name
        assert ("invocationRole" in trigger) == ("InvocationRole" in ros), name


def test_s_yaml_switches_on_the_triggers_the_template_switches_on_by_default() -> None:
    active = {t["triggerName"] for t in props()["triggers"]}
    params = T["Parameters"]
    assert params["EnableHttpTrigger"]["Default"] == params["EnableTimerTrigger"]["Default"] == "true"
    assert active == {"http", "timer"}
    for trigger in props()["triggers"]:
        assert trigger in VARS["triggers"].values(), "an active trigger is one of the defined ones"


def test_s_yaml_literal_copies_stay_equal_to_their_vars() -> None:
    triggers = VARS["triggers"]
    assert triggers["http"]["triggerConfig"]["authType"] == VARS["httpAuthType"]
    assert triggers["timer"]["triggerConfig"]["cronExpression"] == VARS["timerCron"]
    rocketmq = triggers["rocketmq"]["triggerConfig"]["eventSourceConfig"]["eventSourceParameters"]
    kafka = triggers["kafka"]["triggerConfig"]["eventSourceConfig"]["eventSourceParameters"]
    assert rocketmq["sourceRocketMQParameters"]["RegionId"] == VARS["region"]
    assert kafka["sourceKafkaParameters"]["RegionId"] == VARS["region"]


def test_s_yaml_defaults_are_accepted_by_the_function(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ${vars.*} value as written, every ${env(...)} secret set (as a deployer would)."""
    for name in settings_env_names():
        monkeypatch.delenv(name, raising=False)
    samples = {
        "EHPC_RERUN_STATE": "tablestore://ops-state.cn-hangzhou.ots.aliyuncs.com/ops-state/ehpc_rerun_state",
        "EHPC_RERUN_ALLOW_LOCAL_STATE": "false",
        "EHPC_RERUN_MNS_ENDPOINT": "https://1234567890123456.mns.cn-hangzhou.aliyuncs.com",
        "EHPC_RERUN_MNS_TOPIC": "ehpc-rerun-reports",
    }
    for name, value in props()["environmentVariables"].items():
        ref = VARS_REF.match(str(value))
        if ref:
            monkeypatch.setenv(name, str(VARS[ref.group(1)]))
        else:
            monkeypatch.setenv(name, samples.get(name, "not-empty-secret"))
    settings = load_settings()
    assert settings.region == VARS["region"]
    assert settings.detector_report_only is True


def test_unset_environment_values_mean_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in settings_env_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in props()["environmentVariables"].items():
        ref = VARS_REF.match(str(value))
        monkeypatch.setenv(name, str(VARS[ref.group(1)]) if ref else "")
    settings = load_settings()
    assert settings.state is None
    assert settings.allow_local_state is False
    assert settings.mns_topic is None
    assert not settings.http_secret


# --- the fc3 component's schema and the FC 3.0 models ----------------------------------------------


def test_the_fc3_schema_check_can_fail() -> None:
    # given props with memory that is not a multiple of 64 and a timer trigger without its cron
    broken = {
        **resolved(props()),
        "memorySize": 500,
        "triggers": [{"triggerName": "timer", "triggerType": "timer", "triggerConfig": {"enable": True}}],
    }
    # when the schema checks them / then both are reported
    errors = props_errors(broken)
    assert any(e.startswith("memorySize:") for e in errors), errors
    assert trigger_config_errors("timer", {"enable": True}) == [
        "<props>: 'cronExpression' is a required property"
    ]


def test_s_yaml_props_pass_the_fc3_schema_with_every_trigger_and_the_vpc_config() -> None:
    # given the props as written, and with every defined trigger and the Redis network switched on
    as_written = resolved(props())
    everything = {
        **as_written,
        "vpcConfig": resolved(VARS["vpcConfig"]),
        "triggers": [resolved(t) for t in VARS["triggers"].values()],
    }
    # when the fc3 schema validates them / then it finds nothing
    assert props_errors(as_written) == []
    assert props_errors(everything) == []


@pytest.mark.parametrize("name", sorted(S["vars"]["triggers"]))
def test_each_defined_trigger_has_what_its_type_requires(name: str) -> None:
    """ITrigger.triggerConfig is an anyOf; each trigger must satisfy its own type's definition."""
    trigger = resolved(VARS["triggers"][name])
    assert trigger_config_errors(trigger["triggerType"], trigger["triggerConfig"]) == []
    assert trigger_config_problems(trigger["triggerType"], trigger["triggerConfig"]) == []


def test_s_yaml_vpc_config_is_the_template_vpc_config_in_fc3_names() -> None:
    template_vpc = template_function()["VpcConfig"]["Fn::If"][1]
    s_vpc = VARS["vpcConfig"]
    assert [k[0].lower() + k[1:] for k in template_vpc] == list(s_vpc)
    assert all(
        ENV_REF.match(str(v)) for v in (s_vpc["vpcId"], s_vpc["securityGroupId"], *s_vpc["vSwitchIds"])
    )


def test_s_yaml_names_the_same_rules_file_default_as_the_template() -> None:
    assert VARS["detectorRulesFile"] == T["Parameters"]["DetectorRulesFile"]["Default"]
    assert props()["environmentVariables"]["EHPC_RERUN_DETECTOR_RULES_FILE"] == "${vars.detectorRulesFile}"
