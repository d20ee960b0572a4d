"""The README documents every setting the function reads."""

from __future__ import annotations

from ehpc_rerun.settings import Settings, env_name
from tests.conftest import ROOT


def test_every_setting_is_in_the_readme_settings_table() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [env_name(name) for name in Settings.model_fields if f"| `{env_name(name)}` |" not in readme]
    assert missing == []


def test_readme_opens_with_the_two_commands_the_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = [line.split("#")[0].strip() for line in readme.splitlines() if line.startswith("./run ")]
    assert commands[:2] == ["./run demo", "./run test"]
    assert "./run test" in (ROOT / ".ci" / "run").read_text()
