"""Times as the protocol writes them: ISO 8601, UTC, millisecond precision, Z.

The fixed width makes text comparison in SQL order times correctly.
"""

from __future__ import annotations

from datetime import datetime, timezone


def to_utc_text(moment: datetime) -> str:
    # Formatted by hand: strftime's %Y does not zero-pad years before 1000 on
    # every platform, and "999-..." would sort after "2026-..." as text.
    utc = moment.astimezone(timezone.utc)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def utc_now_text() -> str:
    return to_utc_text(datetime.now(timezone.utc))
