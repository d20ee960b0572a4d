"""E-HPC nodes: which hosts a job runs on, read from the scheduler-written ``NodeList`` of ``ListJobs``."""

from __future__ import annotations

from .hostlist import MAX_HOSTS, SEPARATORS, ParsedNodes, parse_node_list

__all__ = ["MAX_HOSTS", "SEPARATORS", "ParsedNodes", "parse_node_list"]
