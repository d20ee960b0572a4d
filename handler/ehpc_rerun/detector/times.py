"""Tolerant reading of E-HPC's time strings, durations in rule documents, and ages for people.

ListJobs returns times as strings whose exact format is not documented (ehpc-api.md §5); seen and
accepted here: ``2026-11-25T10:00:00.000Z``, ``2026-11-25T10:00:00Z``, ``2026-11-25T10:00:00+08:00``,
``2026-11-25 10:00:00``, any number of fractional digits, offsets as ``+08:00``, ``+0800`` or ``+08``, and
epoch seconds (10 digits) or milliseconds (13 digits). Anything else, including ``""``, is *unreadable*:
:func:`parse_time` returns ``None`` and the detector reports the job instead of guessing.

A time without a zone is read as **UTC** (UNVERIFIED: E-HPC's zone-less form has not been observed
against a live cluster; the simulator and the documented examples use UTC ``...Z``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_TIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<clock>\d{2}:\d{2}(?::\d{2})?)"
    r"(?:[.,](?P<fraction>\d+))?\s*(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?|UTC|GMT)?$"
)
_EPOCH = re.compile(r"^\d{10}(?:\d{3})?$")
_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
MAX_DURATION_S = 366 * 86_400


def parse_time(raw: str) -> datetime | None:
    """An aware datetime, or None when the string cannot be read without guessing."""
    text = raw.strip()
    if not text:
        return None
    if _EPOCH.match(text):
        value = int(text)
        seconds = value / 1000 if len(text) == 13 else float(value)
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    match = _TIME.match(text)
    if match is None:
        return None
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    zone = match["zone"] or ""
    if zone in ("", "Z", "z", "UTC", "GMT"):
        offset = "+00:00"
    elif len(zone) == 3:
        offset = zone + ":00"
    elif ":" not in zone:
        offset = f"{zone[:3]}:{zone[3:]}"
    else:
        offset = zone
    clock = match["clock"] if match["clock"].count(":") == 2 else match["clock"] + ":00"
    try:
        return datetime.fromisoformat(f"{match['date']}T{clock}.{fraction}{offset}")
    except ValueError:  # month 13, hour 25, offset beyond 24h, ...
        return None


def parse_duration(value: object) -> int:
    """Seconds from ``"90s"``, ``"30m"``, ``"4h"``, ``"1d"``, ``"1h30m"`` or a number of seconds.

    Raises ValueError with a message meant for the person who wrote the rule.
    """
    if isinstance(value, bool):
        raise ValueError("must be a duration such as '90s', '30m', '4h', '1d' or a number of seconds")
    if isinstance(value, (int, float)):
        seconds = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            seconds = int(text)
        else:
            match = _DURATION.match(text)
            if not text or match is None:
                raise ValueError(
                    f"{value!r} is not a duration: use e.g. '90s', '30m', '4h', '1d', '1h30m' or seconds"
                )
            seconds = (
                int(match["d"] or 0) * 86_400
                + int(match["h"] or 0) * 3600
                + int(match["m"] or 0) * 60
                + int(match["s"] or 0)
            )
    else:
        raise ValueError("must be a duration such as '90s', '30m', '4h', '1d' or a number of seconds")
    if not seconds >= 1:  # also NaN
        raise ValueError("must be at least 1 second")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"must be at most {MAX_DURATION_S // 86_400}d")
    return int(seconds)


def format_age(seconds: float) -> str:
    """An exact short age: ``45s``, ``12m``, ``5h12m``, ``4h0m1s`` is ``4h1s``, ``3d4h``."""
    rest = max(int(seconds), 0)
    parts = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def instant(now_ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return _EPOCH_START + timedelta(milliseconds=now_ms)


def age_seconds(then: datetime, now: datetime | int) -> float:
    """Seconds from ``then`` to ``now`` (a datetime or epoch milliseconds); negative if ``then`` is later."""
    return ((now if isinstance(now, datetime) else instant(now)) - then).total_seconds()


_EPOCH_START = datetime(1970, 1, 1, tzinfo=timezone.utc)
