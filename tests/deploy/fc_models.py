"""TriggerConfig keys checked against the FC 3.0 API's own models (alibabacloud-fc20230330).

Each trigger type's config model reads a map with ``from_map`` and writes one with ``to_map``, both
generated from the API definition; a key the API does not know is dropped on the way through, so
the round trip must give back exactly what the deploy file says.
"""

from __future__ import annotations

from typing import Any

from alibabacloud_fc20230330 import models

# FC 3.0 trigger type -> the model of its triggerConfig (CreateTriggerInput.triggerConfig is that
# model's JSON).
CONFIG_MODELS: dict[str, Any] = {
    "http": models.HTTPTriggerConfig,
    "timer": models.TimerTriggerConfig,
    "mns_topic": models.MNSTopicTriggerConfig,
    "eventbridge": models.EventBridgeTriggerConfig,
}


def differences(given: Any, read_back: Any, path: str = "") -> list[str]:
    """Where the model's round trip differs from the config: unknown keys, changed values."""
    if isinstance(given, dict) and isinstance(read_back, dict):
        out = [
            f"{path}.{k}".lstrip(".") + " is not a field of the FC 3.0 model"
            for k in given
            if k not in read_back
        ]
        return out + [
            d for k in given if k in read_back for d in differences(given[k], read_back[k], f"{path}.{k}")
        ]
    if given != read_back:
        return [f"{path.lstrip('.')}: {given!r} reads back as {read_back!r}"]
    return []


def trigger_config_problems(trigger_type: str, config: dict[str, Any]) -> list[str]:
    model = CONFIG_MODELS.get(trigger_type)
    if model is None:
        return [f"no FC 3.0 trigger config model for trigger type {trigger_type!r}"]
    return differences(config, model().from_map(config).to_map())
