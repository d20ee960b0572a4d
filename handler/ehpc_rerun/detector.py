"""Stuck-job detector (timer-driven). Placeholder until rules exist: it reruns nothing by default."""

from __future__ import annotations

from typing import Any

from .models import Acknowledged, SourceKind
from .sources.base import Record


def scan_records(scan: dict[str, Any], inv: Any) -> list[Record]:
    return [Acknowledged(source=SourceKind.DETECTOR, message="no detector rules configured: nothing to scan")]
