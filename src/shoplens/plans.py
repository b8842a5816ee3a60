"""Plans as data: what each tenant's plan allows (docs/plans.md has the table).

A tenant's ``plan`` (meta.Tenant.plan) names one entry of :data:`PLANS`. Adding a plan is
one entry here plus a row in docs/plans.md; nothing else names plans. Each entry says

- whether the ecommerce v1 ingest routes (seed 002 ``track``/``batch``) are open to it;
- how many events it may send per calendar month (UTC), ``None`` for no limit;
- how many days of raw events it may query (``days`` and every other period parameter are
  clamped to it), ``None`` for no limit;
- how many requests per minute each of its API keys may make.

A tenant whose stored plan names no entry (a plan removed from the registry, a hand-edited
database) gets :data:`DEFAULT_PLAN`'s limits: the most restrictive, never unlimited.
"""

from __future__ import annotations

from dataclasses import dataclass

from shoplens.errors import Forbidden
from shoplens.meta import Tenant

#: Seed 002's text for an ecommerce event sent by a tenant whose plan does not allow it.
ECOMMERCE_REFUSED = "Ecommerce events are not available on the free tier"


@dataclass(frozen=True)
class Plan:
    name: str
    #: may send events through the ecommerce v1 ingest routes (seed 002)
    ecommerce_api: bool
    #: events accepted per calendar month (UTC); None: unlimited
    monthly_events: int | None
    #: days of raw events report routes may look back; None: unlimited
    retention_days: int | None
    #: requests per minute per API key, on every authenticated route
    requests_per_minute: int


PLANS: dict[str, Plan] = {
    plan.name: plan
    for plan in (
        Plan(
            "free",
            ecommerce_api=False,
            monthly_events=100_000,
            retention_days=30,
            requests_per_minute=300,
        ),
        Plan(
            "pro",
            ecommerce_api=True,
            monthly_events=10_000_000,
            retention_days=365,
            requests_per_minute=1_200,
        ),
        Plan(
            "enterprise",
            ecommerce_api=True,
            monthly_events=None,
            retention_days=None,
            requests_per_minute=6_000,
        ),
    )
}

#: The plan of new tenants, and the limits of a tenant whose plan is not in the registry.
DEFAULT_PLAN = "free"


def names() -> list[str]:
    """The plan names, in registry order (for CLI validation and help)."""
    return list(PLANS)


def plan_of(tenant: Tenant) -> Plan:
    """The tenant's plan; an unknown name gets the default plan's limits."""
    return PLANS.get(tenant.plan) or PLANS[DEFAULT_PLAN]


def monthly_events(tenant: Tenant | None) -> int | None:
    """The tenant's monthly event quota (None: unlimited); an unknown tenant gets the
    default plan's."""
    return (plan_of(tenant) if tenant is not None else PLANS[DEFAULT_PLAN]).monthly_events


def retention_days(tenant: Tenant) -> int | None:
    """The most days of raw events the tenant's plan keeps and lets reports query (None:
    no limit). Report routes clamp their period to it (``api.params.period_of``); per-tenant
    retention settings (``shoplens.retention``) may only narrow it."""
    return plan_of(tenant).retention_days


def require_ecommerce_api(tenant: Tenant) -> None:
    """403 with seed 002's text unless the tenant's plan includes the ecommerce routes."""
    if not plan_of(tenant).ecommerce_api:
        raise Forbidden(ECOMMERCE_REFUSED)
