"""The README documents every setting the function reads."""

from __future__ import annotations

from ehpc_rerun.settings import Settings, env_name
from tests.conftest import ROOT


def test_every_setting_is_in_the_settings_table() -> None:
    table = (ROOT / "docs" / "settings.md").read_text()
    missing = [env_name(name) for name in Settings.model_fields if f"| `{env_name(name)}` |" not in table]
    assert missing == []


def test_every_documented_setting_is_a_real_one() -> None:
    import re

    table = (ROOT / "docs" / "settings.md").read_text()
    documented = set(re.findall(r"^\| `(EHPC_RERUN_[A-Z0-9_]+)` \|", table, flags=re.MULTILINE))
    assert documented - {env_name(name) for name in Settings.model_fields} == set()


def test_readme_opens_with_the_two_commands_the_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = [line.split("#")[0].strip() for line in readme.splitlines() if line.startswith("./run ")]
    assert commands[:2] == ["./run demo", "./run test"]
    assert "./run test" in (ROOT / ".ci" / "run").read_text()
