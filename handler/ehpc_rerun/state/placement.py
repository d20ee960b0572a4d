"""Refuse per-instance state where it would be unsafe: inside Function Compute.

FC gives every instance its own ``/tmp``, runs several instances at once and destroys idle ones after
a few minutes (FC FAQ; ``shared/reference/production.md``). Dedupe and rerun budgets kept in an
instance-private store therefore start from zero on every new instance: an alert that keeps firing
meets a fresh budget each time, and a burst spread over instances reruns a job once per instance.

Inside FC, recognised by the variables FC sets in every instance (``FC_FUNCTION_NAME``,
``FC_INSTANCE_ID``: "Configure environment variables",
https://www.alibabacloud.com/help/en/functioncompute/fc/environment-variables), a store that is
private to the instance -- none configured, or a SQLite file -- is refused unless
``EHPC_RERUN_ALLOW_LOCAL_STATE=true`` says so explicitly. Outside FC (local runs, tests, the demo)
the embedded SQLite default stays.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ehpc_rerun.errors import ConfigError

# Either is enough: both are set in every FC instance, and neither by local tools we know of
# (FC_REGION is deliberately not used: local tooling, ours included, sets it to pick a region).
FC_MARKERS = ("FC_FUNCTION_NAME", "FC_INSTANCE_ID")
SHARED_SCHEMES = ("tablestore", "tablestore+http", "redis", "rediss")


def in_function_compute(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return any(env.get(name) for name in FC_MARKERS)


def is_shared(state_url: str | None) -> bool:
    """Whether the store named by ``EHPC_RERUN_STATE`` is shared by every instance of the function."""
    if not state_url or "://" not in state_url:
        return False
    return state_url.split("://", 1)[0].lower() in SHARED_SCHEMES


def check_placement(
    state_url: str | None, *, allow_local_state: bool, environ: Mapping[str, str] | None = None
) -> None:
    """Raise :class:`ConfigError` when, inside FC, the state would be private to one instance."""
    if allow_local_state or is_shared(state_url) or not in_function_compute(environ):
        return
    what = (
        "no store is configured (the default is a SQLite file in /tmp)"
        if not state_url
        else ("it names a SQLite file")
    )
    raise ConfigError(
        f"EHPC_RERUN_STATE: {what}, and this runs in Function Compute, where /tmp is private to each "
        "instance: dedupe and rerun budgets would reset on every new instance and a job could be rerun "
        "without limit. Point EHPC_RERUN_STATE at a shared store "
        "(tablestore://<endpoint-host>/<instance>/<table> or redis://host:port/db), or set "
        "EHPC_RERUN_ALLOW_LOCAL_STATE=true to accept per-instance dedupe and budgets explicitly.",
        code="UnsafeStateStore",
    )
