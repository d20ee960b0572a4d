"""All settings, from environment variables with the prefix ``EHPC_RERUN_``, validated at start.

One pydantic-settings object. A bad value stops the function at initialisation with a
:class:`~ehpc_rerun.errors.ConfigError` naming the environment variable. The README documents
every field below with its default.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, HttpUrl, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .errors import ConfigError
from .models import CLUSTER_ID_PATTERN, Status

ENV_PREFIX = "EHPC_RERUN_"

CommaList = Annotated[tuple[str, ...], NoDecode]


def _split(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class Settings(BaseSettings):
    """Every knob of the function. Field ``foo_bar`` is the variable ``EHPC_RERUN_FOO_BAR``."""

    # An empty variable means "not set": deploy tools pass unset values as "" (s.yaml ${env()}).
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, env_ignore_empty=True
    )

    # --- E-HPC ---------------------------------------------------------------------------------
    region: str | None = Field(
        default=None, pattern=r"^[a-z]{2,4}(-[a-z0-9]{1,20}){1,3}$", description="Default region"
    )
    endpoint: HttpUrl | None = None  # e.g. http://127.0.0.1:8080 for the local simulator
    use_vpc_endpoint: bool = False  # ehpc-vpc.<region>.aliyuncs.com instead of ehpc.<region>...
    connect_timeout_ms: int = Field(default=3000, ge=100, le=60_000)
    read_timeout_ms: int = Field(default=10_000, ge=100, le=120_000)

    # --- validation and safety caps ------------------------------------------------------------
    max_jobs_per_request: int = Field(default=1000, ge=1, le=100_000)
    max_jobs_per_invocation: int = Field(default=500, ge=1, le=100_000)  # blast-radius cap
    jobs_per_call: int = Field(default=100, ge=1, le=100)  # RerunJobs takes at most 100
    allow_clusters: CommaList = ()  # empty: every cluster is allowed
    deny_clusters: CommaList = ()
    dry_run: bool = False
    precheck: bool = True  # ListJobs(State=notfinish) before RerunJobs
    precheck_max_pages: int = Field(default=5, ge=1, le=1000)  # ListJobs pages per cluster per event

    # --- E-HPC's API quota, shared by every instance (token buckets in the state store) -----------
    listing_snapshot_s: float = Field(default=10.0, ge=0.0, le=300.0)  # share a listing this long; 0 = off
    quota_listjobs_per_60s: int = Field(default=100, ge=1, le=100_000)
    quota_rerunjobs_per_60s: int = Field(default=100, ge=1, le=100_000)

    # --- dedupe and budgets --------------------------------------------------------------------
    state: str | None = None  # tablestore://host/instance/table | redis://host:6379/0 | sqlite:////x.db
    allow_local_state: bool = False  # accept per-instance state inside FC (see state/placement.py)
    dedupe_window_s: int = Field(default=900, ge=0, le=7 * 86_400)
    budget_max_reruns: int = Field(default=3, ge=1, le=1000)
    budget_window_s: int = Field(default=86_400, ge=60, le=30 * 86_400)
    # exactly once per event: what an event did is remembered this long (redelivery lasts up to a day)
    event_horizon_s: int = Field(default=172_800, ge=3600, le=30 * 86_400)
    # a job whose lease expired after RerunJobs was sent, and that ListJobs shows unchanged this long
    # after the send, counts as not rerun (see policy/takeover.py for why)
    unchanged_after_send_s: int = Field(default=300, ge=30, le=86_400)

    # --- calls and retries ---------------------------------------------------------------------
    max_parallel_clusters: int = Field(default=8, ge=1, le=64)
    retry_max_attempts: int = Field(default=5, ge=1, le=20)
    retry_base_delay_ms: int = Field(default=200, ge=1, le=60_000)
    retry_max_delay_ms: int = Field(default=10_000, ge=1, le=300_000)
    deadline_margin_s: float = Field(default=3.0, ge=0.0, le=60.0)
    default_timeout_s: float = Field(default=60.0, gt=0, le=86_400)  # when the context has none

    # --- HTTP trigger --------------------------------------------------------------------------
    http_auth: Literal["function", "anonymous"] = "function"
    http_secret: SecretStr | None = None  # HMAC-SHA256 shared secret (anonymous mode)
    http_alert_token: SecretStr | None = None  # query token for CloudMonitor callbacks
    http_max_skew_s: int = Field(default=300, ge=1, le=3600)
    http_max_body_bytes: int = Field(default=1_048_576, ge=1024, le=32 * 1_048_576)

    # --- sinks ---------------------------------------------------------------------------------
    sink_retries: int = Field(default=2, ge=0, le=10)
    sink_timeout_s: float = Field(default=3.0, gt=0, le=60)
    mns_endpoint: HttpUrl | None = None  # https://<account>.mns.<region>.aliyuncs.com
    mns_topic: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,255}$")
    eventbridge_bus: str | None = Field(default=None, max_length=127)
    eventbridge_endpoint: str | None = None  # host[:port] or URL; default eventbridge.<region>...
    eventbridge_source: str = "ehpc-rerun"
    dingtalk_webhook: SecretStr | None = None  # https://oapi.dingtalk.com/robot/send?access_token=...
    dingtalk_secret: SecretStr | None = None  # the robot's "加签" secret (SEC...)
    dingtalk_statuses: CommaList = ("over_budget", "capped", "failed", "unknown")
    dingtalk_digest_window_s: int = Field(default=60, ge=3, le=3600)  # at most one message per window
    dingtalk_digest_max_jobs: int = Field(default=20, ge=1, le=200)  # listed; then "and N more"
    escalation_link: HttpUrl | None = None  # where to see every escalation (e.g. the SLS dashboard)

    # --- detector ------------------------------------------------------------------------------
    detector_clusters: CommaList = ()
    detector_rules: str | None = None  # the rule document itself (JSON or YAML)
    detector_rules_file: str | None = None  # or a path (relative to the code root)
    detector_report_only: bool = False

    # --- jobs stranded on failed nodes (nodes/check.py) --------------------------------------------
    # ListNodes Status values that count as unhealthy; "stopped", "releasing" and friends are done on purpose
    unhealthy_node_statuses: CommaList = ("exception",)
    # the scheduler's own node states (StateInSched, lower case) that count as unhealthy; drain/offline are
    # set by administrators on purpose and are not in the default
    unhealthy_sched_states: CommaList = (
        "down",
        "fail",
        "failing",
        "not_responding",
        "state-unknown",
        "unknown",
    )
    node_check_in_scan: bool = False  # the timer's detector scan also checks its clusters' nodes
    quota_listnodes_per_60s: int = Field(default=100, ge=1, le=100_000)

    _split_lists = field_validator(
        "allow_clusters",
        "deny_clusters",
        "dingtalk_statuses",
        "detector_clusters",
        "unhealthy_node_statuses",
        "unhealthy_sched_states",
        mode="before",
    )(_split)

    @field_validator("unhealthy_node_statuses")
    @classmethod
    def _node_statuses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # ListNodes' documented Status values (SDK ListNodesResponseBodyNodesNodeInfo)
        known = {"uninit", "exception", "running", "initing", "releasing", "untracking", "stopped"}
        bad = [item for item in value if item not in known]
        if bad:
            raise ValueError(f"unknown node statuses {', '.join(bad)}; known: {', '.join(sorted(known))}")
        return value

    @field_validator("allow_clusters", "deny_clusters", "detector_clusters")
    @classmethod
    def _cluster_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import re

        bad = [item for item in value if not re.match(CLUSTER_ID_PATTERN, item)]
        if bad:
            raise ValueError(f"not cluster ids (ehpc-<region code>-<id>): {', '.join(bad)}")
        return value

    @field_validator("dingtalk_statuses")
    @classmethod
    def _statuses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = {status.value for status in Status}
        bad = [item for item in value if item not in known]
        if bad:
            raise ValueError(f"unknown statuses {', '.join(bad)}; known: {', '.join(sorted(known))}")
        return value

    @field_validator("state")
    @classmethod
    def _state_url(cls, value: str | None) -> str | None:
        schemes = ("tablestore://", "tablestore+http://", "sqlite://", "redis://", "rediss://")
        if value is not None and not value.lower().startswith(schemes):
            raise ValueError(
                "must be a tablestore://<endpoint-host>/<instance>/<table> (tablestore+http:// for a local "
                "server), redis://host:port/db, rediss://... or sqlite:///path URL"
            )
        from .state.tablestore_url import is_tablestore_url, parse_tablestore_url  # no SDK import

        if value and is_tablestore_url(value):
            try:
                parse_tablestore_url(value)
            except ConfigError as exc:
                raise ValueError(exc.message) from None
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.retry_max_delay_ms < self.retry_base_delay_ms:
            raise ValueError("retry_max_delay_ms must be >= retry_base_delay_ms")
        if bool(self.mns_endpoint) != bool(self.mns_topic):
            raise ValueError("mns_endpoint and mns_topic go together: set both or neither")
        if self.dingtalk_secret and not self.dingtalk_webhook:
            raise ValueError("dingtalk_secret is set but dingtalk_webhook is not")
        return self


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings() -> Settings:
    """Read and validate the settings, or raise :class:`ConfigError` naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            where = env_name(field) if field else "settings"
            problems.append(f"{where}: {error['msg']}")
        raise ConfigError("invalid settings: " + "; ".join(problems)) from None
