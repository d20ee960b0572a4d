"""The detector's rule document: pydantic models, loading (JSON or YAML, setting or file) and validation.

One document, ``{"rules": [...]}``, from ``EHPC_RERUN_DETECTOR_RULES`` (the text itself) or
``EHPC_RERUN_DETECTOR_RULES_FILE`` (a path; relative paths are relative to the code root, the directory
holding ``index.py``). A bad document raises :class:`ConfigError` at initialisation naming the rule (by
name and index), the field and the setting. The reference is docs/detector-rules.md.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from ehpc_rerun.detector.times import parse_duration
from ehpc_rerun.errors import ConfigError
from ehpc_rerun.models import CLUSTER_ID_PATTERN
from ehpc_rerun.settings import Settings

RULES_ENV = "EHPC_RERUN_DETECTOR_RULES"
RULES_FILE_ENV = "EHPC_RERUN_DETECTOR_RULES_FILE"
MAX_DOCUMENT_BYTES = 1_048_576
DEFAULT_MAX_JOBS_PER_SCAN = 20
State = Literal["RUNNING", "QUEUED"]


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


def _name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}", value):
        raise ValueError(
            f"{value[:80]!r} is not a rule name: 1 to 64 letters, digits, '_', '.', ':' or '-', "
            "starting with a letter or digit"
        )
    return value


def _cluster(value: str) -> str:
    if not re.fullmatch(CLUSTER_ID_PATTERN.strip("^$"), value):
        raise ValueError(f"{value[:80]!r} is not a cluster id (ehpc-<region code>-<id>)")
    return value


@lru_cache(maxsize=256)
def compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


Duration = Annotated[int, BeforeValidator(parse_duration)]
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(_regex)]
RuleName = Annotated[str, AfterValidator(_name)]
RuleCluster = Annotated[str, AfterValidator(_cluster)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class Exclude(BaseModel):
    """Jobs a rule never matches (a later rule may still match them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_ids: tuple[Name, ...] = ()
    owners: tuple[Name, ...] = ()
    name_pattern: Pattern | None = None


class Rule(BaseModel):
    """One rule: which jobs (cluster, state, owner, name), how old, how many per scan, watched or active."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: RuleName
    clusters: tuple[RuleCluster, ...] = ()  # empty: every scanned cluster
    states: tuple[Annotated[State, BeforeValidator(_upper)], ...] | None = None  # None: from the criteria
    running_longer_than: Duration | None = None  # RUNNING jobs: now - StartTime
    queued_longer_than: Duration | None = None  # QUEUED jobs: now - SubmitTime
    unchanged_for: Duration | None = None  # any state: now - LastModifyTime
    owner: Name | None = None
    name_pattern: Pattern | None = None
    exclude: Exclude = Field(default_factory=Exclude)
    max_jobs_per_scan: int = Field(default=DEFAULT_MAX_JOBS_PER_SCAN, ge=1, le=10_000)
    report_only: bool = False
    _states: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="after")
    def _coherent(self) -> Rule:
        if (
            self.running_longer_than is None
            and self.queued_longer_than is None
            and self.unchanged_for is None
        ):
            raise ValueError(
                "running_longer_than: a rule needs at least one age criterion (running_longer_than, "
                "queued_longer_than or unchanged_for); without one it would match every unfinished job"
            )
        if self.states is not None:
            if not self.states:
                raise ValueError("states: must name RUNNING, QUEUED or both (or be left out)")
            if self.running_longer_than is not None and "RUNNING" not in self.states:
                raise ValueError("states: running_longer_than is set but states does not include RUNNING")
            if self.queued_longer_than is not None and "QUEUED" not in self.states:
                raise ValueError("states: queued_longer_than is set but states does not include QUEUED")
            for state, own in (("RUNNING", "running_longer_than"), ("QUEUED", "queued_longer_than")):
                if state in self.states and getattr(self, own) is None and self.unchanged_for is None:
                    raise ValueError(
                        f"states: {state} is listed but no age criterion applies to {state} jobs "
                        f"(set {own} or unchanged_for)"
                    )
        self._states = self._derive_states()
        return self

    @property
    def effective_states(self) -> frozenset[str]:
        """The listed states; by default the states the age criteria speak of (both for unchanged_for)."""
        return self._states

    def _derive_states(self) -> frozenset[str]:
        if self.states:
            return frozenset(self.states)
        own = {
            state
            for state, limit in (("RUNNING", self.running_longer_than), ("QUEUED", self.queued_longer_than))
            if limit is not None
        }
        return frozenset(own or {"RUNNING", "QUEUED"})

    def covers(self, cluster_id: str) -> bool:
        return not self.clusters or cluster_id in self.clusters


class RuleSet(BaseModel):
    """The whole document. Rules are tried in order; the first that matches a job wins."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[Rule, ...]

    def named(self, name: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.name == name), None)

    def clusters(self) -> tuple[str, ...]:
        """Every cluster some rule names, in order of first mention."""
        return tuple(dict.fromkeys(c for rule in self.rules for c in rule.clusters))


def code_root() -> Path:
    """The directory holding ``index.py`` (the FC code root)."""
    import ehpc_rerun

    return Path(ehpc_rerun.__file__).resolve().parent.parent


def load_rules(settings: Settings) -> RuleSet | None:
    """The validated rule document, or None when no rule is configured. Raises ConfigError."""
    if settings.detector_rules is not None and settings.detector_rules_file is not None:
        raise ConfigError(f"set {RULES_ENV} (the rule document) or {RULES_FILE_ENV} (a path to it), not both")
    if settings.detector_rules is not None:
        text, where, kind = settings.detector_rules, RULES_ENV, "text"
    elif settings.detector_rules_file is not None:
        path = Path(settings.detector_rules_file)
        if not path.is_absolute():
            path = code_root() / path
        where = f"{RULES_FILE_ENV} ({path})"
        text, kind = _read(path, where), path.suffix.lower()
    else:
        return None
    if not text.strip():
        return None
    ruleset = parse_rules(parse_document(text, where, kind), where)
    return ruleset if ruleset.rules else None


def _read(path: Path, where: str) -> str:
    try:
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            raise ConfigError(f"detector rules: the file is larger than {MAX_DOCUMENT_BYTES} bytes; {where}")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"detector rules: cannot read the file: {problem}; {where}") from None


def parse_document(text: str, where: str, kind: str = "text") -> Any:
    """JSON or YAML text -> data. ``kind`` is a file suffix (.json, .yaml, .yml) or ``text`` (either)."""
    if kind != ".json":
        if kind == "text":
            try:
                return json.loads(text)
            except ValueError as exc:
                json_error: ValueError | None = exc
        else:
            json_error = None
        try:
            return _yaml(text)
        except ValueError as yaml_error:
            shown = json_error if json_error and text.lstrip()[:1] in ("{", "[") else yaml_error
            raise ConfigError(f"detector rules: not valid JSON or YAML: {shown}; set in {where}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"detector rules: not valid JSON: {exc}; set in {where}") from None


def _yaml(text: str) -> Any:
    import yaml  # only YAML documents pay for the import

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ValueError(f"{problem}{at}") from None


def parse_rules(data: Any, where: str = RULES_ENV) -> RuleSet:
    """Validate the document; every problem is named by rule (name and index) and field."""
    if data is None:
        return RuleSet(rules=())
    try:
        ruleset = RuleSet.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error, data) for error in exc.errors()[:10]]
        more = f" (and {exc.error_count() - 10} more)" if exc.error_count() > 10 else ""
        raise ConfigError("; ".join(problems) + f"{more}; set in {where}") from None
    seen: dict[str, int] = {}
    for index, rule in enumerate(ruleset.rules):
        if rule.name in seen:
            raise ConfigError(
                f"detector rule {rule.name!r} (rules[{index}]).name: the name is already used by "
                f"rules[{seen[rule.name]}]; rule names must be unique; set in {where}"
            )
        seen[rule.name] = index
    return ruleset


_KNOWN = {
    "rule": sorted(Rule.model_fields),
    "exclude": sorted(Exclude.model_fields),
    "document": sorted(RuleSet.model_fields),
}


def _path(loc: tuple[Any, ...]) -> list[str]:
    return [f"[{part}]" if isinstance(part, int) else str(part) for part in loc]


def _describe(error: Any, data: Any) -> str:
    loc: tuple[Any, ...] = tuple(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ").replace("valid tuple", "list")
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        index = loc[1]
        raw = data.get("rules") if isinstance(data, dict) else None
        item = raw[index] if isinstance(raw, list) and index < len(raw) else None
        name = item.get("name") if isinstance(item, dict) else None
        who = (
            f"detector rule {name!r} (rules[{index}])"
            if isinstance(name, str)
            else f"detector rule rules[{index}]"
        )
        path = _path(loc[2:])
        if not path and ": " in message and message.split(": ", 1)[0] in _KNOWN["rule"]:
            field, message = message.split(": ", 1)
            path = [field]
        if error["type"] == "extra_forbidden":
            known = _KNOWN["exclude"] if path[:1] == ["exclude"] else _KNOWN["rule"]
            message = f"unknown field (known: {', '.join(known)})"
        return f"{who}.{'.'.join(path)}: {message}".replace(".[", "[") if path else f"{who}: {message}"
    where = ".".join(_path(loc)).replace(".[", "[")
    if error["type"] == "extra_forbidden":
        message = f"unknown field (known: {', '.join(_KNOWN['document'])})"
    elif error["type"] == "model_type":
        message = 'the document must be an object: {"rules": [...]}'
    return f"detector rules{'.' + where if where else ''}: {message}"
