"""Reading E-HPC's time strings tolerantly, and the durations of rule documents."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ehpc_rerun.detector.times import format_age, parse_duration, parse_time

TEN_UTC = datetime(2026, 11, 25, 10, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "raw",
    [
        "2026-11-25T10:00:00.000Z",
        "2026-11-25T10:00:00Z",
        "2026-11-25T10:00:00z",
        "2026-11-25T18:00:00+08:00",
        "2026-11-25T18:00:00+0800",
        "2026-11-25T18:00:00+08",
        "2026-11-25T05:00:00-05:00",
        "2026-11-25 10:00:00",
        "2026-11-25T10:00:00",
        "2026-11-25 10:00:00.000000000",
        "2026-11-25T10:00:00.0Z",
        "2026-11-25T10:00",
        " 2026-11-25T10:00:00Z ",
        "2026-11-25T10:00:00 UTC",
    ],
)
def test_every_known_form_of_the_same_instant_reads_the_same(raw: str) -> None:
    assert parse_time(raw) == TEN_UTC


def test_fractional_seconds_of_any_length_are_kept_to_the_microsecond() -> None:
    assert parse_time("2026-11-25T10:00:00.5Z") == TEN_UTC.replace(microsecond=500_000)
    assert parse_time("2026-11-25T10:00:00.123456789Z") == TEN_UTC.replace(microsecond=123_456)
    assert parse_time("2026-11-25T10:00:00,25Z") == TEN_UTC.replace(microsecond=250_000)


def test_a_time_without_a_zone_is_read_as_utc() -> None:
    # UNVERIFIED against a live cluster: documented in docs/detector-rules.md
    assert parse_time("2026-11-25 10:00:00") == TEN_UTC


def test_epoch_seconds_and_milliseconds_are_read() -> None:
    seconds = int(TEN_UTC.timestamp())
    assert parse_time(str(seconds)) == TEN_UTC
    assert parse_time(str(seconds * 1000)) == TEN_UTC


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "garbage",
        "2026-13-01T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-11-25T25:00:00Z",
        "2026-11-25T10:00:00+25:00",
        "25/11/2026 10:00",
        "2026-11-25",
        "123456",
        "2026-11-25T10:00:00 CST",
    ],
)
def test_anything_else_is_unreadable_and_never_guessed(raw: str) -> None:
    assert parse_time(raw) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        *[("90s", 90), ("30m", 1800), ("4h", 14_400), ("1d", 86_400), ("1h30m", 5400), ("2d12h", 216_000)],
        *[(3600, 3600), ("3600", 3600), (" 4H ", 14_400), (1.5, 1)],
    ],
)
def test_durations_read_as_seconds(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "4x", "1w", "h", "4h 30m", "-5m", 0, 0.5, -1, True, None, [], "400d"])
def test_bad_durations_are_refused_with_a_hint(bad: object) -> None:
    with pytest.raises(ValueError, match=r"duration|at least 1 second|at most"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        *[(0, "0s"), (45, "45s"), (90, "1m30s"), (720, "12m"), (18_720, "5h12m"), (14_400, "4h")],
        *[(273_600, "3d4h"), (-5, "0s"), (86_400, "1d"), (14_401, "4h1s"), (90_061, "1d1h1m1s")],
    ],
)
def test_ages_are_short_for_people(seconds: int, text: str) -> None:
    assert format_age(seconds) == text
