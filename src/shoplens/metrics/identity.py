"""Identity stitching: which person an event belongs to, resolved when a report runs.

Ingestion stores events as sent; a visitor browses under an anonymous id and later signs
in (``identify``), is aliased (``alias``: ``previousId`` → ``userId``) or sends any event
carrying both its anonymous id and a user id. Every such event writes a link
``(anonymous id, user id)`` to the ``identities`` table (migrations/0004_identities.sql,
fed by a materialized view on ``events``: exactly-once with the flusher's dedup token).
Reports that count people resolve, per event row:

- :data:`CUSTOMER`: the event's own ``user_id``, else the user its ``visitor_id`` is
  linked to, else ``''`` (an anonymous visitor who never identified);
- :data:`PERSON_ID`: the customer, else the ``visitor_id`` (a person of their own);
  :data:`PERSON` is its 64-bit hash, for grouping and exact distinct counts (see
  ``sql.VISITOR``).

Links are applied whenever they arrive (PostHog's person overrides): the anonymous events
stored before the link and those after it both belong to the user, and a report over a
past period counts the person once the link is known. Links of any age apply (the table
is small: one row per anonymous id and user). When one anonymous id is linked to several
users (a shared browser), its anonymous events belong to the *first* link: the earliest
``first_seen``, ties broken by the smaller user id — deterministic, and the same in every
report. Events that carry a user id always belong to that user.

Usage: join the links onto an ``events`` query, then use the expressions::

    q = with_links(Query.from_table(EVENTS, tenant.id, start, end)).select(PERSON, "person")

TRICKY: the join is ``ANY LEFT JOIN … USING (visitor_id)`` with the links grouped to one
row per anonymous id, so no event row is duplicated; a row without a link gets
``linked_user = ''`` (ClickHouse's default ``join_use_nulls = 0``, on chDB and a server).

Cost (measured once on this machine, chDB, 2M events of 200k visitors, 67k links): the join
makes a per-person funnel 2 to 4 times slower than the same funnel per visitor id (about +0.3 s),
every event probing the hash table of links with its string ``visitor_id``. A join on
``cityHash64(visitor_id)`` against links keyed by the same hash measured about 30% cheaper
than the string join; the builder's ``join`` is ``USING`` one column, so that needs the
hash as a column of an inner query first — left for when a report needs it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shoplens.metrics.sql import EPOCH, IDENTITIES, Query

__all__ = ["CUSTOMER", "FOREVER", "PERSON", "PERSON_ID", "linked_visitors", "links", "with_links"]

#: The end of "every link ever" ranges (the builder requires one; DateTime64 ends in 2299).
FOREVER = datetime(2200, 1, 1, tzinfo=UTC)
#: The user an event row belongs to ('' for an anonymous visitor never linked to one).
CUSTOMER = "if(user_id != '', user_id, linked_user)"
#: The person an event row belongs to: its customer, else its visitor id.
PERSON_ID = "if(user_id != '', user_id, if(linked_user != '', linked_user, visitor_id))"
#: :data:`PERSON_ID` hashed, for grouping and distinct counts (as ``sql.VISITOR``).
PERSON = f"cityHash64({PERSON_ID})"


def links(tenant_id: int) -> Query:
    """``(visitor_id, linked_user)``: each linked anonymous id and the user of its first link."""
    return (
        Query.from_table(IDENTITIES, tenant_id, EPOCH, FOREVER)
        .select("anonymous_id", alias="visitor_id")
        .select("argMin(user_id, (first_seen, user_id))", alias="linked_user")
        .group_by("visitor_id")
    )


def with_links(events: Query) -> Query:
    """``events`` (a query on the events table) with ``linked_user`` for each row, so
    :data:`CUSTOMER`, :data:`PERSON_ID` and :data:`PERSON` can be selected."""
    return events.join(links(events.tenant_id), using="visitor_id")


def linked_visitors(tenant_id: int, user_id: str) -> Query:
    """The anonymous ids whose events belong to ``user_id`` (their first link is to them)."""
    return (
        Query.from_query(links(tenant_id))
        .where("linked_user = {linked_to}", linked_to=user_id)
        .select("visitor_id")
    )
