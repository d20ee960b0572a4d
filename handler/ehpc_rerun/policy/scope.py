"""Cluster allow-list and deny-list (``EHPC_RERUN_ALLOW_CLUSTERS`` / ``EHPC_RERUN_DENY_CLUSTERS``)."""

from __future__ import annotations

from ehpc_rerun.settings import Settings


def out_of_scope(cluster_id: str, settings: Settings) -> str | None:
    """Why this cluster is not ours to touch, or None."""
    if cluster_id in settings.deny_clusters:
        return f"cluster {cluster_id} is on the deny-list (EHPC_RERUN_DENY_CLUSTERS)"
    if settings.allow_clusters and cluster_id not in settings.allow_clusters:
        return f"cluster {cluster_id} is not on the allow-list (EHPC_RERUN_ALLOW_CLUSTERS)"
    return None
