"""Times as the protocol writes them: ISO 8601, UTC, millisecond precision, Z.

The fixed width makes text comparison in SQL order times correctly.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def to_utc_text(moment: datetime) -> str:
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def utc_now_text() -> str:
    return to_utc_text(datetime.now(timezone.utc))


def utc_days_ago_text(days: int) -> str:
    return to_utc_text(datetime.now(timezone.utc) - timedelta(days=days))
