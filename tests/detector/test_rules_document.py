"""The rule document: JSON or YAML, from the setting or a file; a bad one stops the function, named."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ehpc_rerun import app
from ehpc_rerun.detector.rules import RuleSet, code_root, load_rules, parse_rules
from ehpc_rerun.errors import ConfigError
from ehpc_rerun.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "detector-rules.md"
HUNG = {"name": "hung-mpi", "states": ["RUNNING"], "running_longer_than": "4h", "unchanged_for": "2h"}


def problem(rules: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_rules(rules)
    return caught.value.message


def test_bad_rule_stops_the_function_at_initialisation_naming_rule_field_and_setting(
    settings_env: Callable[..., None],
) -> None:
    # given a rule document whose second rule has a bad duration
    document = {"rules": [HUNG, {"name": "queued-a-day", "queued_longer_than": "one day"}]}
    settings_env(detector_rules=json.dumps(document))
    # when the function initialises
    with pytest.raises(ConfigError) as caught:
        app.initialize(None)
    # then it stops, naming the rule by name and index, the field and the setting
    message = caught.value.message
    assert message.startswith("detector rule 'queued-a-day' (rules[1]).queued_longer_than: 'one day'")
    assert message.endswith("set in EHPC_RERUN_DETECTOR_RULES")


def test_good_document_is_loaded_once_per_instance_and_cached(settings_env: Callable[..., None]) -> None:
    settings_env(detector_rules=json.dumps({"rules": [HUNG]}), detector_clusters="ehpc-hz-detA01")
    app.initialize(None)
    rules = app._cache["rules"]
    assert isinstance(rules, RuleSet)
    assert [rule.name for rule in rules.rules] == ["hung-mpi"]
    assert rules.rules[0].running_longer_than == 4 * 3600
    assert rules.rules[0].unchanged_for == 2 * 3600


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            {"name": "everything", "states": ["RUNNING"]},
            "detector rule 'everything' (rules[0]).running_longer_than: a rule needs at least one age",
        ),
        (
            {"name": "x", "running_longer_than": "4x"},
            "(rules[0]).running_longer_than: '4x' is not a duration",
        ),
        ({"name": "x", "unchanged_for": 0}, "(rules[0]).unchanged_for: must be at least 1 second"),
        (
            {"name": "x", "running_longer_than": "4h", "states": ["QUEUED"]},
            "(rules[0]).states: running_longer_than",
        ),
        ({"name": "x", "running_longer_than": "4h", "states": ["RUNNING", "QUEUED"]}, "QUEUED is listed but"),
        (
            {"name": "x", "unchanged_for": "2h", "states": ["FINISHED"]},
            "(rules[0]).states[0]: Input should be",
        ),
        ({"name": "x", "unchanged_for": "2h", "states": []}, "(rules[0]).states: must name RUNNING"),
        (
            {"name": "x", "unchanged_for": "2h", "runing_longer_than": "4h"},
            "(rules[0]).runing_longer_than: unknown",
        ),
        (
            {"name": "x", "unchanged_for": "2h", "exclude": {"owner": "a"}},
            "(rules[0]).exclude.owner: unknown field",
        ),
        (
            {"name": "x", "unchanged_for": "2h", "name_pattern": "(mpi"},
            "(rules[0]).name_pattern: not a valid regular",
        ),
        (
            {"name": "x", "unchanged_for": "2h", "clusters": ["c1"]},
            "(rules[0]).clusters[0]: 'c1' is not a cluster id",
        ),
        (
            {"name": "x", "unchanged_for": "2h", "max_jobs_per_scan": 0},
            "(rules[0]).max_jobs_per_scan: Input should",
        ),
        ({"name": "x y", "unchanged_for": "2h"}, "(rules[0]).name: 'x y' is not a rule name"),
        ({"unchanged_for": "2h"}, "detector rule rules[0].name: Field required"),
    ],
)
def test_each_invalid_rule_is_named_with_its_field(rule: dict[str, Any], expected: str) -> None:
    assert expected in problem({"rules": [rule]})


def test_rule_names_must_be_unique() -> None:
    message = problem({"rules": [HUNG, {**HUNG, "running_longer_than": "8h"}]})
    assert "detector rule 'hung-mpi' (rules[1]).name: the name is already used by rules[0]" in message


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([HUNG], 'the document must be an object: {"rules": [...]}'),
        ({"rule": [HUNG]}, "detector rules.rule: unknown field (known: rules)"),
        ({"rules": "hung-mpi"}, "detector rules.rules: Input should be a list"),
    ],
)
def test_document_shape_errors_are_named(document: Any, expected: str) -> None:
    assert expected in problem(document)


def test_every_problem_of_a_document_is_listed() -> None:
    message = problem(
        {"rules": [{"name": "a", "unchanged_for": "x"}, {"name": "b", "queued_longer_than": "y"}]}
    )
    assert "'a' (rules[0]).unchanged_for" in message
    assert "'b' (rules[1]).queued_longer_than" in message


def test_no_document_and_an_empty_rule_list_both_mean_no_rules() -> None:
    assert load_rules(Settings()) is None
    assert load_rules(Settings(detector_rules="")) is None
    assert load_rules(Settings(detector_rules='{"rules": []}')) is None
    assert load_rules(Settings(detector_rules="rules: []\n")) is None


def test_yaml_text_in_the_setting_is_read() -> None:
    text = "rules:\n- name: hung-mpi\n  running_longer_than: 4h\n  unchanged_for: 2h\n  report_only: yes\n"
    rules = load_rules(Settings(detector_rules=text))
    assert rules is not None
    assert rules.rules[0].report_only is True
    assert rules.rules[0].effective_states == {"RUNNING"}


def test_text_that_is_neither_json_nor_yaml_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"not valid JSON or YAML: .*; set in EHPC_RERUN_DETECTOR_RULES"):
        load_rules(Settings(detector_rules='{"rules": [}'))
    with pytest.raises(ConfigError, match=r"not valid JSON or YAML: .* at line \d+, column \d+"):
        load_rules(Settings(detector_rules="rules:\n  - name: [a\n"))


def test_rule_file_relative_to_the_code_root_is_read_and_errors_name_the_file(tmp_path: Path) -> None:
    # given a YAML file under this test directory, named relative to the code root (handler/)
    relative = Path("..") / Path(__file__).resolve().parent.relative_to(code_root().parent) / "example.yaml"
    rules = load_rules(Settings(detector_rules_file=str(relative)))
    assert rules is not None
    assert [rule.name for rule in rules.rules] == ["hung-mpi"]
    # and an absolute JSON file with a bad rule
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps({"rules": [{"name": "x", "unchanged_for": "soon"}]}), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules(Settings(detector_rules_file=str(bad)))
    assert "detector rule 'x' (rules[0]).unchanged_for" in caught.value.message
    assert caught.value.message.endswith(f"set in EHPC_RERUN_DETECTOR_RULES_FILE ({bad})")


def test_missing_file_and_both_settings_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"cannot read the file: No such file.*EHPC_RERUN_DETECTOR_RULES_FILE"
    ):
        load_rules(Settings(detector_rules_file=str(tmp_path / "nope.yaml")))
    with pytest.raises(ConfigError, match="not both"):
        load_rules(Settings(detector_rules='{"rules": []}', detector_rules_file="rules.yaml"))


def _rule_documents(language: str) -> list[Any]:
    """Every fenced block of that language in docs/detector-rules.md that is a rule document."""
    import yaml

    load = json.loads if language == "json" else yaml.safe_load
    text = DOCS.read_text(encoding="utf-8")
    blocks = [load(b) for b in re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)]
    return [b for b in blocks if isinstance(b, dict) and "rules" in b]


def test_the_documented_examples_are_valid_and_the_yaml_and_json_forms_agree() -> None:
    yaml_docs = [parse_rules(document) for document in _rule_documents("yaml")]
    json_docs = [parse_rules(document) for document in _rule_documents("json")]
    assert len(yaml_docs) == 4
    assert len(json_docs) == 1
    assert [r.name for d in yaml_docs[:3] for r in d.rules] == ["hung-mpi", "queued-a-day", "nightly-etl"]
    assert yaml_docs[-1] == json_docs[-1]
    assert [r.name for r in json_docs[-1].rules] == ["nightly-etl", "hung-mpi", "queued-a-day"]
