"""Blast-radius cap: more jobs in one invocation than ``EHPC_RERUN_MAX_JOBS_PER_INVOCATION`` -> none is rerun.

A flood that names many jobs at once is more likely a broken alert or a cluster-wide incident than
many stuck jobs; a human decides (like Cloud Custodian's max-resources).
"""

from __future__ import annotations

from ehpc_rerun.settings import Settings


def cap_note(job_count: int, settings: Settings) -> str | None:
    limit = settings.max_jobs_per_invocation
    if job_count <= limit:
        return None
    return (
        f"{job_count} jobs in one invocation exceed the blast-radius cap of {limit} "
        "(EHPC_RERUN_MAX_JOBS_PER_INVOCATION): nothing was rerun; check the cause, then rerun "
        "in smaller batches or raise the cap"
    )
