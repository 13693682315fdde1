"""Resolve an audience to real contacts, and the screen's rule-of-thumb estimate."""

from __future__ import annotations

import peewee

from sidecar.schemas.models import Audience, AudienceBasis, EstimateAudienceParams, EstimateAudienceResult
from sidecar.storage.audience_queries import audience_contacts_sql

# The confirm screen's own estimate, kept here so that both sides agree on it.
ESTIMATE_BASE = {"recent": 150, "tag": 80, "group": 200}
ESTIMATE_OFFSET = 10


def rule_of_thumb(audience: Audience) -> tuple[int, int]:
    """Return (estimate, base) as the screen computes them."""
    if audience.source == "manual":
        distinct = len(set(audience.contact_ids))
        return distinct, distinct
    base = ESTIMATE_BASE[audience.source]
    return base * (100 - audience.min_intent_score) // 100 + ESTIMATE_OFFSET, base


def count_audience(database: peewee.SqliteDatabase, audience: Audience) -> int:
    sql, params = audience_contacts_sql(audience)
    return database.execute_sql(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()[0]


def estimate_audience(database: peewee.SqliteDatabase, params: EstimateAudienceParams) -> EstimateAudienceResult:
    estimated, base = rule_of_thumb(params.audience)
    return EstimateAudienceResult(
        estimated_audience=estimated,
        actual_audience=count_audience(database, params.audience),
        basis=AudienceBasis(base=base, min_intent_score=params.audience.min_intent_score),
    )
