"""template.yml's state store: each StateStore choice gives the function the store, the permissions and
the network it needs, and the function accepts it inside Function Compute."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ehpc_rerun.settings import load_settings
from ehpc_rerun.state.placement import check_placement

from .ros import Evaluation, load_template, settings_env_names, walk
from .scenarios import EXISTING_TABLESTORE, REDIS, REDIS_URL, REQUIRED_VALUES, STATE_CHOICES, combinations

T = load_template()
OTS_ACTIONS = ["ots:BatchGetRow", "ots:BatchWriteRow"]
DEFAULT_INSTANCE = "ehpc-4a6c9851"  # "ehpc-" + the first group of the evaluator's fake stack id
OTS_INSTANCE_NAME = r"^[a-zA-Z][-a-zA-Z0-9]{1,14}[a-zA-Z0-9]$"  # ROS CDK RosInstance.instanceName


def created(values: dict[str, str]) -> dict[str, dict[str, Any]]:
    return Evaluation(T, {**REQUIRED_VALUES, **values}).resources()


def env_of(resources: dict[str, dict[str, Any]]) -> dict[str, str]:
    env: dict[str, str] = resources["Function"]["Properties"]["EnvironmentVariables"]
    return env


def ots_statements(resources: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for _, node in walk(resources):
        if isinstance(node, dict) and "Action" in node and "Effect" in node:
            acts = [node["Action"]] if isinstance(node["Action"], str) else node["Action"]
            if any(str(a).startswith("ots:") for a in acts):
                found.append(node)
    return found


@pytest.mark.parametrize(
    ("choice", "instance", "table"),
    [
        ("create-tablestore", DEFAULT_INSTANCE, "ehpc_rerun_state"),
        ("create-tablestore-named", "my-ehpc-state", "ehpc_rerun_state"),
        ("existing-tablestore", "ops-state", "rerun_state"),
    ],
)
def test_tablestore_choices_point_the_function_at_one_table_and_allow_only_that_table(
    choice: str, instance: str, table: str
) -> None:
    # given a Tablestore choice / when the template is evaluated
    resources = created(STATE_CHOICES[choice])
    # then the function's store is that table on the instance's public HTTPS endpoint
    env = env_of(resources)
    assert (
        env["EHPC_RERUN_STATE"] == f"tablestore://{instance}.cn-hangzhou.ots.aliyuncs.com/{instance}/{table}"
    )
    assert "EHPC_RERUN_ALLOW_LOCAL_STATE" not in env
    assert "VpcConfig" not in resources["Function"]["Properties"]
    # and the role may make exactly the store's calls on that table, and nothing else in Tablestore
    (statement,) = ots_statements(resources)
    assert statement["Action"] == OTS_ACTIONS
    assert statement["Resource"] == [
        f"acs:ots:cn-hangzhou:1234567890123456:instance/{instance}/table/{table}"
    ]
    policy = resources["StateStorePolicy"]["Properties"]
    assert policy["Roles"] == ["ehpc-rerun-cn-hangzhou"]
    # and only create-tablestore creates the instance and the table
    creates = choice.startswith("create")
    assert ("StateInstance" in resources) is creates and ("StateTable" in resources) is creates
    if creates:
        assert resources["StateInstance"]["Properties"]["InstanceName"] == instance
        assert resources["StateTable"]["Properties"]["InstanceName"] == instance


def test_the_created_table_has_the_key_the_store_uses_and_keeps_no_history() -> None:
    table = created({})["StateTable"]["Properties"]
    assert table["TableName"] == "ehpc_rerun_state"
    assert table["PrimaryKey"] == [{"Name": "key", "Type": "STRING"}]
    assert table["MaxVersions"] == 1
    assert table["TimeToLive"] == -1 or table["TimeToLive"] >= 86_400, "Tablestore: -1 or at least a day"


def test_the_generated_instance_name_is_a_valid_lower_case_tablestore_name() -> None:
    # given a real-looking stack id (ROS stack ids are UUIDs) / when the name is derived from it
    evaluation = Evaluation(T, REQUIRED_VALUES)
    for stack_id in ("4a6c9851-3b0f-4f5f-b4ca-a14bf6910000", "00000000-0000-0000-0000-000000000000"):
        evaluation.pseudo["ALIYUN::StackId"] = stack_id
        name = evaluation.resources()["StateInstance"]["Properties"]["InstanceName"]
        # then it fits Tablestore's rule and the parameter's own pattern
        assert re.fullmatch(OTS_INSTANCE_NAME, name), name
        assert re.fullmatch(T["Parameters"]["TablestoreInstanceName"]["AllowedPattern"], name), name


def test_redis_choice_gives_the_url_and_puts_the_function_in_the_vpc() -> None:
    resources = created(REDIS)
    env = env_of(resources)
    assert env["EHPC_RERUN_STATE"] == REDIS_URL
    assert resources["Function"]["Properties"]["VpcConfig"] == {
        "VpcId": "vpc-bp1fakevpc0001",
        "VSwitchIds": ["vsw-bp1fakevsw0001", "vsw-bp1fakevsw0002"],
        "SecurityGroupId": "sg-bp1fakesg0001",
    }
    assert resources["Function"]["Properties"]["InternetAccess"] is True, "E-HPC is a public endpoint"
    assert not ots_statements(resources)
    assert not {"StateInstance", "StateTable", "StateStorePolicy"} & set(resources)


def test_instance_local_choice_says_so_explicitly_and_creates_nothing() -> None:
    resources = created({"StateStore": "instance-local"})
    env = env_of(resources)
    assert env["EHPC_RERUN_ALLOW_LOCAL_STATE"] == "true"
    assert "EHPC_RERUN_STATE" not in env
    assert "VpcConfig" not in resources["Function"]["Properties"]
    assert not ots_statements(resources)
    assert not {"StateInstance", "StateTable", "StateStorePolicy"} & set(resources)


@pytest.mark.parametrize("choice", sorted(STATE_CHOICES))
def test_the_function_starts_in_function_compute_with_each_choice(
    choice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the environment the template gives the function, inside an FC instance
    env = env_of(created(STATE_CHOICES[choice]))
    for name in settings_env_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    fc_environ = {"FC_FUNCTION_NAME": "ehpc-rerun", "FC_INSTANCE_ID": "c-fake-0001"}
    # when the settings load and the state placement is checked
    settings = load_settings()
    # then the function accepts its state store (no ConfigError)
    check_placement(settings.state, allow_local_state=settings.allow_local_state, environ=fc_environ)
    assert settings.allow_local_state is (choice == "instance-local")


def test_without_a_choice_of_local_state_fc_would_refuse_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The placement check the test above passes is real: drop the opt-in and it fails."""
    from ehpc_rerun.errors import ConfigError

    with pytest.raises(ConfigError):
        check_placement(None, allow_local_state=False, environ={"FC_FUNCTION_NAME": "ehpc-rerun"})


def test_no_tablestore_permission_anywhere_is_a_wildcard() -> None:
    for scenario, values in combinations().items():
        for stmt in ots_statements(Evaluation(T, values).resources()):
            resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
            assert not any("*" in str(a) for a in stmt["Action"]), scenario
            assert all("*" not in r for r in resources), (scenario, resources)


def test_the_tablestore_actions_are_listed_in_one_place() -> None:
    lists = [
        node for _, node in walk(T) if isinstance(node, list) and any(str(a).startswith("ots:") for a in node)
    ]
    assert lists == [OTS_ACTIONS]
    assert "ots:*" not in json.dumps(T)


@pytest.mark.parametrize(
    ("values", "broken"),
    [
        (
            {"StateStore": "existing-tablestore"},
            "StateStore existing-tablestore needs TablestoreInstanceName.",
        ),
        ({**REDIS, "RedisUrl": ""}, "StateStore redis needs RedisUrl."),
        ({**REDIS, "SecurityGroupId": ""}, "needs VpcId, VSwitchIds and SecurityGroupId"),
        ({"DetectorRules": "rules: []", "DetectorRulesFile": "rules.yaml"}, "not both"),
    ],
)
def test_rules_stop_an_incomplete_choice_before_anything_is_created(
    values: dict[str, str], broken: str
) -> None:
    assert any(broken in b for b in Evaluation(T, {**REQUIRED_VALUES, **values}).broken_rules())


def test_every_tested_combination_passes_the_rules() -> None:
    assert EXISTING_TABLESTORE["TablestoreInstanceName"]
    assert {name: Evaluation(T, v).broken_rules() for name, v in combinations().items()} == {
        name: [] for name in combinations()
    }


def test_the_policy_grants_exactly_the_tablestore_calls_the_store_makes(tmp_path: Any) -> None:
    # given the state store on the local Tablestore server, used for everything it does
    from ehpc_rerun.credentials import Credentials
    from ehpc_rerun.otsserver import TablestoreServer
    from ehpc_rerun.state import open_store

    creds = Credentials("test-ak-id", "test-secret-not-real", "test-sts-token-not-real")
    with TablestoreServer(
        access_key_id=creds.access_key_id,
        access_key_secret=creds.access_key_secret,
        security_token=creds.security_token,
    ) as server:
        store = open_store(server.url, credentials=lambda: creds)
        try:
            keys = [f"c/{n}" for n in range(250)]
            store.claim(keys, owner="a", detail="d", lease_ms=60_000, budget_window_ms=86_400_000, now_ms=1)
            done = keys[:200]
            store.complete(done, owner="a", dedupe_window_ms=900_000, budget_window_ms=86_400_000, now_ms=2)
            store.release(keys[200:], owner="a")
            store.claim(keys[:10], owner="b", detail="d", lease_ms=1, budget_window_ms=86_400_000, now_ms=3)
        finally:
            store.close()
        # when its calls are compared with the template's Tablestore actions
        made = {f"ots:{action}" for action in server.calls}
    # then they are the same set: nothing the store needs is missing, nothing more is granted
    [statement] = ots_statements(created({}))
    assert sorted(statement["Action"]) == sorted(made) == sorted(OTS_ACTIONS)
