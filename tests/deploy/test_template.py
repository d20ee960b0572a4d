"""template.yml against the ROS template grammar (ros_resource_specs.json) and against the function.

ROS itself is not reachable from a test; these checks catch what it would reject (unknown sections,
dangling references) and what it would happily deploy but we must not (wildcard permissions, echoed
secrets, misspelled settings, an environment the function refuses). Resource types and properties
are checked by the official ROS CDK in test_ros_cdk.py; the state store in test_state_store.py.
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

import pytest
from pydantic import SecretStr

from ehpc_rerun.settings import Settings, load_settings

from . import cdk
from .fc3_schema import fc3_schema
from .fc_models import trigger_config_problems
from .ros import (
    NO_VALUE,
    Evaluation,
    as_mapping,
    branches,
    intrinsic,
    is_no_value,
    load_specs,
    load_template,
    parameter_refs,
    settings_env_names,
    sub_names,
    sub_text,
    walk,
)
from .scenarios import ALL_ON, NODE_CHECK_CHOICES, REQUIRED_VALUES, combinations

T = load_template()
RESOURCE_TYPES = tuple(sorted({res["Type"] for res in T["Resources"].values()}))
SPECS = load_specs()
RULES = SPECS["resource_rules"]
PARAMS = T["Parameters"]
RESOURCES = T["Resources"]
CONDITIONS = T.get("Conditions", {})
PSEUDO = set(SPECS["pseudo_parameters"]["names"])

FUNCTION_ROLE_ACTIONS = {
    "ehpc:RerunJobs",
    "ehpc:ListJobs",
    "ehpc:ListNodes",
    "log:PostLogStoreLogs",
    "mns:PublishMessage",
    "eventbridge:PutEvents",
    "ots:BatchGetRow",
    "ots:BatchWriteRow",
    "ots:GetRow",
    "ots:PutRow",
    "ots:UpdateRow",
    "ots:DeleteRow",
}
SECRET_NAME = re.compile(r"secret|token|password|webhook|redis", re.IGNORECASE)


def resources_of(rtype: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in RESOURCES.items() if res["Type"] == rtype}


def the_function() -> dict[str, Any]:
    (function,) = resources_of("ALIYUN::FC3::Function").values()
    return as_mapping(function["Properties"])


def statements(rtype: str, props: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Every permission statement of a RAM resource (both sides of Fn::If), with its policy name."""
    docs: list[tuple[Any, str]] = []
    if rtype == "ALIYUN::RAM::Role":
        for policy in props.get("Policies", []):
            docs.append((policy["PolicyDocument"], str(policy["PolicyName"])))
    elif rtype == "ALIYUN::RAM::ManagedPolicy":
        docs.append((props["PolicyDocument"], str(props["PolicyName"])))
    out = []
    for doc, name in docs:
        for stmt_list in branches(doc["Statement"]):
            for stmt in stmt_list:
                out += [(s, name) for s in branches(stmt)]
    return out


def actions(stmt: dict[str, Any]) -> list[str]:
    raw = stmt.get("Action", [])
    return [raw] if isinstance(raw, str) else list(raw)


def function_role_statements() -> list[tuple[dict[str, Any], str | None]]:
    """The function role's own statements and those of the managed policies attached to it."""
    role = the_function()["Role"]
    role_name = role["Fn::GetAtt"][0]
    out: list[tuple[dict[str, Any], str | None]] = [
        (s, None) for s, _ in statements("ALIYUN::RAM::Role", RESOURCES[role_name]["Properties"])
    ]
    for res in resources_of("ALIYUN::RAM::ManagedPolicy").values():
        if {"Fn::GetAtt": [role_name, "RoleName"]} in res["Properties"].get("Roles", []):
            out += [(s, res.get("Condition")) for s, _ in statements(res["Type"], res["Properties"])]
    return out


# --- template structure --------------------------------------------------------------------------


def test_template_declares_ros_format_version_2015_09_01() -> None:
    assert T["ROSTemplateFormatVersion"] == SPECS["template"]["format_version"] == "2015-09-01"
    assert "Transform" not in T, "FC 3.0 resources, not the discontinued Funcraft transform"


def test_template_uses_only_ros_sections_and_has_the_required_ones() -> None:
    sections = SPECS["template"]
    assert set(T) <= set(sections["allowed_sections"])
    assert set(sections["required_sections"]) <= set(T)


def test_every_resource_uses_only_documented_resource_keys() -> None:
    keys = SPECS["template"]["resource_keys"]
    for name, res in RESOURCES.items():
        assert set(res) <= set(keys["allowed"]), name
        assert set(keys["required"]) <= set(res), name


def test_parameters_use_documented_keys_and_types() -> None:
    spec = SPECS["parameters"]
    for name, decl in PARAMS.items():
        assert re.fullmatch(r"[A-Za-z0-9]+", name), f"parameter names are letters and digits: {name}"
        assert set(decl) <= set(spec["allowed"]), name
        assert decl["Type"] in spec["types"], name


def test_every_parameter_is_described_for_the_console() -> None:
    assert not [name for name, decl in PARAMS.items() if not decl.get("Description")]


def test_every_tested_parameter_value_satisfies_its_constraints() -> None:
    """The scenarios the deploy tests evaluate are values ROS would accept."""
    for scenario, values in combinations().items():
        for name, value in values.items():
            decl = PARAMS[name]
            if "AllowedValues" in decl:
                assert value in decl["AllowedValues"], (scenario, name)
            if "AllowedPattern" in decl:
                assert re.fullmatch(decl["AllowedPattern"], value), (scenario, name, value)
            assert len(value) <= decl.get("MaxLength", len(value)), (scenario, name)


def test_parameter_defaults_satisfy_their_own_constraints() -> None:
    for name, decl in PARAMS.items():
        if "Default" not in decl:
            continue
        default = decl["Default"]
        if "AllowedValues" in decl:
            assert default in decl["AllowedValues"], name
        if "AllowedPattern" in decl:
            assert re.fullmatch(decl["AllowedPattern"], str(default)), name
        if decl["Type"] == "Number":
            assert decl.get("MinValue", default) <= default <= decl.get("MaxValue", default), name


def test_every_ref_getatt_sub_and_condition_resolves() -> None:
    names = set(PARAMS) | set(RESOURCES) | PSEUDO
    attributes = {t: set(f["attributes"]) for t, f in cdk.type_facts(RESOURCE_TYPES).items()}
    problems: list[str] = []
    for path, node in walk({k: v for k, v in T.items() if k != "Metadata"}):
        fn = intrinsic(node)
        if fn is None:
            continue
        kind, arg = fn
        if kind == "Ref" and arg not in names:
            problems.append(f"{path}: Ref {arg}")
        elif kind == "Fn::GetAtt":
            res, attr = arg
            if res not in RESOURCES:
                problems.append(f"{path}: GetAtt of unknown resource {res}")
            elif attr not in attributes[RESOURCES[res]["Type"]]:
                problems.append(f"{path}: {RESOURCES[res]['Type']} has no attribute {attr} (ROS CDK)")
        elif kind == "Fn::Sub":
            local = set(arg[1]) if isinstance(arg, list) else set()
            for ref in sub_names(sub_text(arg)):
                head, _, attr = ref.partition(".")
                known_attr = head in RESOURCES and attr in attributes[RESOURCES[head]["Type"]]
                if (attr and not known_attr) or (not attr and ref not in names | local):
                    problems.append(f"{path}: Fn::Sub ${{{ref}}}")
        elif kind == "Fn::If" and arg[0] not in CONDITIONS:
            problems.append(f"{path}: Fn::If on unknown condition {arg[0]}")
    for name, res in list(RESOURCES.items()) + list(T.get("Outputs", {}).items()):
        if "Condition" in res and res["Condition"] not in CONDITIONS:
            problems.append(f"{name}: unknown condition {res['Condition']}")
    for name, cond in CONDITIONS.items():
        for ref in parameter_refs(cond):
            if ref not in PARAMS and ref not in PSEUDO:
                problems.append(f"condition {name} refers to {ref}, which is not a parameter")
    assert not problems


def test_template_uses_only_documented_intrinsic_functions() -> None:
    documented = set(SPECS["intrinsic_functions"]["names"])
    used = {fn[0] for _, node in walk(T) if (fn := intrinsic(node))}
    assert used <= documented, used - documented
    keys = {k for _, node in walk(T) if isinstance(node, dict) for k in node if str(k).startswith("Fn::")}
    assert keys <= documented, keys - documented


def test_metadata_groups_list_every_parameter_once() -> None:
    groups = T["Metadata"]["ALIYUN::ROS::Interface"]["ParameterGroups"]
    listed = [p for g in groups for p in g["Parameters"]]
    assert sorted(listed) == sorted(PARAMS)


def test_conditional_resources_are_only_referenced_under_their_condition() -> None:
    problems = []
    for name, res in list(RESOURCES.items()) + list(T.get("Outputs", {}).items()):
        own = res.get("Condition")
        for _, node in walk(res):
            fn = intrinsic(node)
            target = None
            if fn and fn[0] == "Fn::GetAtt":
                target = fn[1][0]
            elif fn and fn[0] == "Ref" and fn[1] in RESOURCES:
                target = fn[1]
            needed = RESOURCES[target].get("Condition") if target in RESOURCES else None
            implied = own == needed or needed in CONDITIONS.get(own or "", {}).get("Fn::And", [])
            if needed and not implied:
                problems.append(f"{name} (condition {own}) refers to {target} (condition {needed})")
    assert not problems


def test_the_evaluated_template_creates_the_expected_resources() -> None:
    default = set(Evaluation(T, REQUIRED_VALUES).resources())
    everything = set(Evaluation(T, ALL_ON).resources())
    assert default == {
        "FunctionRole",
        "Function",
        "HttpTrigger",
        "TimerTrigger",
        "StateInstance",
        "StateTable",
        "StateStorePolicy",
    }
    assert everything == set(RESOURCES)


# --- the function ------------------------------------------------------------------------------


def test_function_runs_python310_with_index_handler_and_initializer() -> None:
    fn = the_function()
    assert fn["Runtime"] == "python3.10"
    assert fn["Runtime"] in RULES["ALIYUN::FC3::Function"]["runtimes"]
    assert fn["Handler"] == "index.handler"
    initializer = fn["InstanceLifecycleConfig"]["Initializer"]
    assert initializer["Handler"] == "index.initialize"
    assert 1 <= initializer["Timeout"] <= 300
    assert fn["Code"] == {"OssBucketName": {"Ref": "CodeBucket"}, "OssObjectName": {"Ref": "CodeObject"}}
    assert fn["Role"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}


def test_the_cdk_checks_memory_and_timeout_at_both_ends_of_their_parameter_ranges() -> None:
    """FC's ranges are the ROS CDK's (test_ros_cdk.py); these scenarios take each parameter to its ends."""
    scenarios = combinations()
    for prop in ("MemorySize", "Timeout"):
        decl = PARAMS[the_function()[prop]["Ref"]]
        assert decl["MinValue"] <= decl["Default"] <= decl["MaxValue"], prop
        assert scenarios["smallest-numbers"][prop] == str(decl["MinValue"]), prop
        assert scenarios["largest-numbers"][prop] == str(decl["MaxValue"]), prop


def test_every_environment_variable_is_a_real_setting() -> None:
    real = settings_env_names()
    env = as_mapping(the_function()["EnvironmentVariables"])
    wrong = {name: difflib.get_close_matches(name, real, n=1, cutoff=0.6) for name in env if name not in real}
    assert not wrong, f"not EHPC_RERUN_<Settings field> (closest real names): {wrong}"


def test_no_setting_is_set_under_a_near_miss_name() -> None:
    """A typo (EHPC_RERUN_ALLOW_CLUSTER, EHPC_RERN_REGION) would be silently ignored by the function."""
    real = settings_env_names()
    for _, node in walk(T["Resources"]):
        if not isinstance(node, dict):
            continue
        for key in node:
            if not isinstance(key, str) or key in real or not re.fullmatch(r"[A-Z][A-Z0-9_]+", key):
                continue
            close = difflib.get_close_matches(key, real, n=1, cutoff=0.85)
            assert not close, f"{key} looks like a misspelling of {close[0]}"


def test_environment_variables_settings_need_are_set() -> None:
    env = as_mapping(the_function()["EnvironmentVariables"])
    for name in (
        "EHPC_RERUN_REGION",
        "EHPC_RERUN_ALLOW_CLUSTERS",
        "EHPC_RERUN_HTTP_AUTH",
        "EHPC_RERUN_STATE",
        "EHPC_RERUN_MNS_ENDPOINT",
        "EHPC_RERUN_MNS_TOPIC",
        "EHPC_RERUN_EVENTBRIDGE_BUS",
        "EHPC_RERUN_HTTP_SECRET",
        "EHPC_RERUN_HTTP_ALERT_TOKEN",
        "EHPC_RERUN_DINGTALK_WEBHOOK",
        "EHPC_RERUN_DINGTALK_SECRET",
        "EHPC_RERUN_DETECTOR_CLUSTERS",
    ):
        assert name in env, name


@pytest.mark.parametrize("values", [REQUIRED_VALUES, ALL_ON], ids=["defaults", "everything-on"])
def test_the_function_accepts_the_environment_the_template_gives_it(
    values: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluation = Evaluation(T, values)
    env = evaluation.resources()["Function"]["Properties"]["EnvironmentVariables"]
    assert all(isinstance(v, str) for v in env.values()), "FC environment values are strings"
    assert all(v != "" for v in env.values()), "an empty value is not 'unset' to the settings loader"
    for name in settings_env_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    region = values.get("EhpcRegion") or evaluation.pseudo["ALIYUN::Region"]
    assert settings.region == region
    assert settings.http_auth == values.get("HttpAuthType", "function")
    if values is ALL_ON:
        assert str(settings.mns_endpoint) == "https://1234567890123456.mns.cn-hangzhou.aliyuncs.com/"
        assert settings.mns_topic == "ehpc-rerun-reports"
        assert settings.eventbridge_bus == "ops"
        assert (
            settings.state
            == "tablestore://ehpc-4a6c9851.cn-hangzhou.ots.aliyuncs.com/ehpc-4a6c9851/ehpc_rerun_state"
        )
        assert settings.allow_clusters == ("ehpc-hz-FYUr32a1b2", "ehpc-sh-abc123")
    else:
        assert settings.mns_topic is None
        assert (
            settings.state
            == "tablestore://ehpc-4a6c9851.cn-hangzhou.ots.aliyuncs.com/ehpc-4a6c9851/ehpc_rerun_state"
        )
        assert settings.detector_report_only is True


def _is_secret_field(field: str) -> bool:
    annotation = Settings.model_fields[field].annotation
    return SecretStr in (annotation, *typing.get_args(annotation))


def test_secret_parameters_are_noecho() -> None:
    env = as_mapping(the_function()["EnvironmentVariables"])
    real = settings_env_names()
    secret_params = {name for name in PARAMS if SECRET_NAME.search(name)}
    for var, value in env.items():
        field = real.get(var)
        if field and _is_secret_field(field):
            secret_params |= parameter_refs(value) - PSEUDO
    # EHPC_RERUN_STATE is a secret only as a Redis URL (it may carry a password); a Tablestore URL
    # names an instance and a table, and the function signs with its role's STS credentials.
    secret_params.add("RedisUrl")
    assert {"HttpSecret", "AlertToken", "DingTalkWebhook", "DingTalkSecret", "RedisUrl"} <= secret_params
    echoed = sorted(p for p in secret_params if PARAMS[p].get("NoEcho") is not True)
    assert not echoed, f"secret parameters without NoEcho: {echoed}"
    assert all("Default" not in PARAMS[p] or PARAMS[p]["Default"] == "" for p in secret_params)


# --- permissions --------------------------------------------------------------------------------


def test_no_ram_statement_grants_a_wildcard_action() -> None:
    for name, res in RESOURCES.items():
        if not res["Type"].startswith("ALIYUN::RAM::"):
            continue
        for stmt, policy in statements(res["Type"], res["Properties"]):
            for action in actions(stmt):
                assert "*" not in action, f"{name}/{policy}: {action}"


def test_function_role_calls_only_rerunjobs_listjobs_and_listnodes_on_ehpc() -> None:
    stmts = function_role_statements()
    granted = {a for s, _ in stmts for a in actions(s)}
    assert {a for a in granted if a.startswith("ehpc:")} == {
        "ehpc:RerunJobs",
        "ehpc:ListJobs",
        "ehpc:ListNodes",
    }
    assert granted <= FUNCTION_ROLE_ACTIONS, granted - FUNCTION_ROLE_ACTIONS
    assert all(s["Effect"] == "Allow" for s, _ in stmts)


def _ehpc_actions(values: dict[str, str]) -> set[str]:
    """Every ehpc: action the function role holds once the template is evaluated with ``values``."""
    created = Evaluation(T, values).resources()
    docs = [p["PolicyDocument"] for p in created["FunctionRole"]["Properties"]["Policies"]]
    role_name = created["FunctionRole"]["Properties"]["RoleName"]
    docs += [
        res["Properties"]["PolicyDocument"]
        for res in created.values()
        if res["Type"] == "ALIYUN::RAM::ManagedPolicy" and role_name in res["Properties"]["Roles"]
    ]
    return {a for doc in docs for s in doc["Statement"] for a in actions(s) if a.startswith("ehpc:")}


@pytest.mark.parametrize("choice", sorted(NODE_CHECK_CHOICES))
def test_listnodes_is_granted_only_when_the_node_check_can_run(choice: str) -> None:
    # given the node event trigger and the scan's node check on or off
    values = {**REQUIRED_VALUES, **NODE_CHECK_CHOICES[choice]}
    # when the template is evaluated
    granted = _ehpc_actions(values)
    # then ehpc:ListNodes is granted exactly when one of them can make the function call it
    can_run = choice != "off"
    assert granted == {"ehpc:RerunJobs", "ehpc:ListJobs"} | ({"ehpc:ListNodes"} if can_run else set())
    created = Evaluation(T, values).resources()
    assert ("NodeCheckPolicy" in created) is can_run
    assert ("NodeEventsTrigger" in created) is (values.get("EnableNodeEventsTrigger") == "true")
    env = created["Function"]["Properties"]["EnvironmentVariables"]
    assert env["EHPC_RERUN_NODE_CHECK_IN_SCAN"] == values.get("NodeCheckInScan", "false")


def test_listnodes_is_granted_under_its_own_condition_only() -> None:
    for stmt, condition in function_role_statements():
        if "ehpc:ListNodes" in actions(stmt):
            assert condition == "UseNodeCheck"
            assert actions(stmt) == ["ehpc:ListNodes"]
    assert CONDITIONS["UseNodeCheck"] == {
        "Fn::Or": ["UseNodeEventsTrigger", {"Fn::Equals": ["true", {"Ref": "NodeCheckInScan"}]}]
    }


def test_the_node_event_trigger_takes_e_hpc_node_events_from_the_default_bus() -> None:
    import json

    config = triggers()["NodeEventsTrigger"]["TriggerConfig"]
    pattern = json.loads(config["eventRuleFilterPattern"])
    assert pattern["type"] == [{"prefix": "ehpc:NodeOperation:"}]
    assert pattern["source"] == ["acs.ehpc"]  # UNVERIFIED (see the template's comment)
    assert config["eventSourceConfig"] == {"eventSourceType": "Default", "eventSourceParameters": {}}
    assert config["runOptions"] == {"mode": "event-driven"}
    assert PARAMS["EnableNodeEventsTrigger"]["Default"] == PARAMS["NodeCheckInScan"]["Default"] == "false"


def test_sink_permissions_exist_only_when_the_sink_is_configured() -> None:
    expected = {"mns:PublishMessage": "UseMnsSink", "eventbridge:PutEvents": "UseEventBridgeSink"}
    for stmt, condition in function_role_statements():
        for action in actions(stmt):
            if action in expected:
                assert condition == expected[action], f"{action} granted under {condition}"
    default = Evaluation(T, REQUIRED_VALUES).resources()
    assert not {"MnsSinkPolicy", "EventBridgeSinkPolicy"} & set(default)
    role = default["FunctionRole"]["Properties"]
    granted = {a for p in role["Policies"] for s in p["PolicyDocument"]["Statement"] for a in actions(s)}
    assert granted == {"ehpc:RerunJobs", "ehpc:ListJobs"}
    assert "NodeCheckPolicy" not in default


def test_sink_permissions_name_the_configured_topic_and_bus() -> None:
    created = Evaluation(T, ALL_ON).resources()
    mns = created["MnsSinkPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"]
    bus = created["EventBridgeSinkPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"]
    assert mns == ["acs:mns:cn-hangzhou:1234567890123456:/topics/ehpc-rerun-reports/messages"]
    assert bus == ["acs:eventbridge:cn-hangzhou:1234567890123456:eventbus/ops"]


def test_function_role_is_assumable_by_function_compute_only() -> None:
    trust = RESOURCES["FunctionRole"]["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": ["fc.aliyuncs.com"]}}
    ]


def test_topic_invocation_role_may_only_invoke_this_function() -> None:
    created = Evaluation(T, ALL_ON).resources()["TopicInvocationRole"]["Properties"]
    assert created["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": ["mns.aliyuncs.com"]
    }
    (policy,) = created["Policies"]
    (stmt,) = policy["PolicyDocument"]["Statement"]
    assert stmt["Action"] == ["fc:InvokeFunction"]
    assert all(
        r.startswith("acs:fc:cn-hangzhou:1234567890123456:functions/ehpc-rerun") for r in stmt["Resource"]
    )


def test_role_and_policy_names_fit_ram_limits_for_the_longest_function_name() -> None:
    longest = "f" + "x" * 35
    assert re.fullmatch(PARAMS["FunctionName"]["AllowedPattern"], longest)
    evaluation = Evaluation(T, {**ALL_ON, "FunctionName": longest})
    evaluation.pseudo["ALIYUN::Region"] = "cn-hangzhou-finance"
    created = evaluation.resources()
    role_pattern = RULES["ALIYUN::RAM::Role"]["role_name_pattern"]
    policy_pattern = RULES["ALIYUN::RAM::ManagedPolicy"]["policy_name_pattern"]
    for name, res in created.items():
        props = res["Properties"]
        if res["Type"] == "ALIYUN::RAM::Role":
            assert re.fullmatch(role_pattern, props["RoleName"]), (name, props["RoleName"])
            assert all(re.fullmatch(policy_pattern, p["PolicyName"]) for p in props["Policies"]), name
        if res["Type"] == "ALIYUN::RAM::ManagedPolicy":
            assert re.fullmatch(policy_pattern, props["PolicyName"]), (name, props["PolicyName"])


# --- triggers ------------------------------------------------------------------------------------


def triggers() -> dict[str, dict[str, Any]]:
    return {name: res["Properties"] for name, res in resources_of("ALIYUN::FC3::Trigger").items()}


def test_triggers_cover_every_event_source_the_function_reads() -> None:
    kinds = {
        (p["TriggerType"], p["TriggerConfig"].get("eventSourceConfig", {}).get("eventSourceType"))
        for p in triggers().values()
    }
    assert kinds == {
        ("http", None),
        ("timer", None),
        ("mns_topic", None),
        ("eventbridge", "MNS"),
        ("eventbridge", "RocketMQ"),
        ("eventbridge", "Kafka"),
        ("eventbridge", "Default"),
    }


def test_the_fc3_models_notice_a_misspelt_trigger_key() -> None:
    # given a queue trigger whose MNS parameters misspell QueueName
    config = Evaluation(T, ALL_ON).resources()["QueueTrigger"]["Properties"]["TriggerConfig"]
    params = config["eventSourceConfig"]["eventSourceParameters"]["sourceMNSParameters"]
    params["QueueNmae"] = params.pop("QueueName")
    # when the FC 3.0 model reads it / then the key is reported
    where = "eventSourceConfig.eventSourceParameters.sourceMNSParameters.QueueNmae"
    assert trigger_config_problems("eventbridge", config) == [f"{where} is not a field of the FC 3.0 model"]


@pytest.mark.parametrize("name", sorted(resources_of("ALIYUN::FC3::Trigger")))
def test_trigger_config_keys_are_the_fc3_api_model_fields(name: str) -> None:
    created = Evaluation(T, ALL_ON).resources()[name]["Properties"]
    assert not trigger_config_problems(created["TriggerType"], created["TriggerConfig"])
    props = triggers()[name]
    values = SPECS["trigger_values"]
    config = props["TriggerConfig"]
    assert re.fullmatch(RULES["ALIYUN::FC3::Trigger"]["trigger_name_pattern"], props["TriggerName"])
    assert props["FunctionName"] == {"Fn::GetAtt": ["Function", "FunctionName"]}
    for needed in values.get(props["TriggerType"], {}).get("needs", []):
        assert needed in props, f"{name} needs {needed}"
    if props["TriggerType"] == "eventbridge":
        spec = values["eventbridge"]
        assert config["eventSourceConfig"]["eventSourceType"] in spec["eventSourceType"]
        assert config["runOptions"]["mode"] in spec["mode"]
        delivery = config["eventSinkConfig"]["deliveryOption"]
        assert delivery["eventSchema"] == "CloudEvents", "the function unwraps CloudEvents envelopes"


def test_http_trigger_auth_follows_the_parameter_and_allows_post_and_get() -> None:
    config = triggers()["HttpTrigger"]["TriggerConfig"]
    assert config["authType"] == {"Ref": "HttpAuthType"}
    schema_auth = fc3_schema()["definitions"]["IHttpTriggerConfig"]["properties"]["authType"]["enum"]
    assert set(PARAMS["HttpAuthType"]["AllowedValues"]) <= set(schema_auth)
    assert sorted(config["methods"]) == ["GET", "POST"]
    env = the_function()["EnvironmentVariables"]
    assert env["EHPC_RERUN_HTTP_AUTH"] == {"Ref": "HttpAuthType"}, "FC and the function must agree"


def test_timer_trigger_payload_asks_for_a_detector_scan() -> None:
    import json

    config = triggers()["TimerTrigger"]["TriggerConfig"]
    assert json.loads(config["payload"]) == {"scan": {}}
    assert config["enable"] is True
    assert config["cronExpression"] == {"Ref": "TimerCron"}


def test_every_trigger_can_be_switched_off_and_only_http_and_timer_start_on() -> None:
    defaults = Evaluation(T, REQUIRED_VALUES)
    for name, res in resources_of("ALIYUN::FC3::Trigger").items():
        assert "Condition" in res, f"{name} cannot be switched off"
        off = {p: ("false" if PARAMS[p].get("AllowedValues") == ["true", "false"] else "") for p in PARAMS}
        off = {p: v for p, v in off.items() if p in parameter_refs(CONDITIONS[res["Condition"]])}
        assert off, name
        assert not Evaluation(T, {**REQUIRED_VALUES, **off}).condition(res["Condition"]), name
        assert defaults.condition(res["Condition"]) == (name in {"HttpTrigger", "TimerTrigger"}), name


def test_outputs_give_the_http_url_and_the_function_arn() -> None:
    outputs = T["Outputs"]
    assert outputs["HttpTriggerUrl"]["Value"] == {"Fn::GetAtt": ["HttpTrigger", "UrlInternet"]}
    assert outputs["FunctionArn"]["Value"] == {"Fn::GetAtt": ["Function", "ARN"]}
    keys = SPECS["template"]["output_keys"]
    for name, out in outputs.items():
        assert set(out) <= set(keys["allowed"]), name
        assert set(keys["required"]) <= set(out), name


def test_no_value_is_used_only_inside_fn_if() -> None:
    """ALIYUN::NoValue deletes an optional property; as a bare value it would be an empty string."""
    for path, node in walk(RESOURCES):
        if is_no_value(node):
            assert path.split("/")[-2] == "Fn::If", path
    assert NO_VALUE in PSEUDO
