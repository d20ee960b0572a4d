"""The Serverless Devs fc3 component's published JSON schema (vendored in fc3_schema.json)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = Path(__file__).with_name("fc3_schema.json")

# The schema's definition of each trigger type's triggerConfig (ITrigger.triggerConfig is an anyOf
# of all of them, which any one would satisfy).
TRIGGER_CONFIG_DEFINITIONS = {
    "http": "IHttpTriggerConfig",
    "timer": "ITimerTriggerConfig",
    "mns_topic": "IMnsTriggerConfig",
    "eventbridge": "IEventBridge",
}


@cache
def fc3_schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return data


def _errors(schema: dict[str, Any], instance: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return sorted(
        f"{'/'.join(str(p) for p in e.absolute_path) or '<props>'}: {e.message}"
        for e in validator.iter_errors(instance)
    )


def props_errors(props: dict[str, Any]) -> list[str]:
    """What the fc3 schema says about a resource's props (as the component's ajv check sees them)."""
    return _errors(fc3_schema(), props)


def trigger_config_errors(trigger_type: str, config: dict[str, Any]) -> list[str]:
    name = TRIGGER_CONFIG_DEFINITIONS.get(trigger_type)
    if name is None:
        return [f"the fc3 schema has no triggerConfig definition for {trigger_type!r}"]
    schema = {**fc3_schema()["definitions"][name], "definitions": fc3_schema()["definitions"]}
    return _errors(schema, config)
