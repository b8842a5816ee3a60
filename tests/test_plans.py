"""The plan registry: each plan's limits, lookups, the ecommerce gate."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shoplens import plans
from shoplens.errors import Forbidden
from shoplens.meta import MetaStore, Tenant


def tenant(plan: str) -> Tenant:
    return Tenant(1, "Acme", "USD", "UTC", plan, "2026-01-01T00:00:00+00:00")


def test_the_documented_plans() -> None:
    """docs/plans.md's table, row by row."""
    rows = {
        name: (p.ecommerce_api, p.monthly_events, p.retention_days, p.requests_per_minute)
        for name, p in plans.PLANS.items()
    }
    assert rows == {
        "free": (False, 100_000, 30, 300),
        "pro": (True, 10_000_000, 365, 1_200),
        "enterprise": (True, None, None, 6_000),
    }
    assert plans.names() == ["free", "pro", "enterprise"]
    assert all(name == p.name for name, p in plans.PLANS.items())


def test_new_tenants_get_the_default_plan(meta: MetaStore) -> None:
    assert meta.create_tenant("new").plan == plans.DEFAULT_PLAN == "free"


def test_an_unknown_plan_gets_the_default_plans_limits() -> None:
    assert plans.plan_of(tenant("gold-2019")) == plans.PLANS["free"]
    assert plans.retention_days(tenant("gold-2019")) == 30
    assert plans.monthly_events(None) == 100_000  # a tenant that no longer exists


@pytest.mark.parametrize(
    ("plan", "retention", "quota"),
    [("free", 30, 100_000), ("pro", 365, 10_000_000), ("enterprise", None, None)],
)
def test_lookups_by_tenant(plan: str, retention: int | None, quota: int | None) -> None:
    assert plans.plan_of(tenant(plan)).name == plan
    assert plans.retention_days(tenant(plan)) == retention
    assert plans.monthly_events(tenant(plan)) == quota


def test_ecommerce_api_is_refused_on_free_with_the_seed_text() -> None:
    with pytest.raises(Forbidden) as refused:
        plans.require_ecommerce_api(tenant("free"))
    assert refused.value.message == "Ecommerce events are not available on the free tier"
    plans.require_ecommerce_api(tenant("pro"))
    plans.require_ecommerce_api(tenant("enterprise"))


def test_a_plan_added_to_the_registry_is_a_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    team = replace(plans.PLANS["pro"], name="team", retention_days=730)
    monkeypatch.setitem(plans.PLANS, "team", team)
    assert plans.plan_of(tenant("team")) is team
    assert plans.retention_days(tenant("team")) == 730
    assert "team" in plans.names()
