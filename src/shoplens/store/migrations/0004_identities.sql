-- Identity links: which user an anonymous (visitor) id belongs to, for stitching a
-- visitor's anonymous events to the person who later identified (PostHog's
-- person_distinct_id2 overrides, simplified). One row per (tenant, anonymous id, user id)
-- pair, written by the view below from every unflagged event that carries a user id AND a
-- different visitor id (identify, a logged-in event with its anonymousId, …), and from an
-- alias call's previousId (the segment format stores it as properties['previousId']).
-- The query side (shoplens.metrics.identity) maps an anonymous id to its first link.
-- TRICKY: AggregatingMergeTree with min(first_seen), not ReplacingMergeTree: a replacing
-- merge keeps the *last* inserted duplicate, which would move first_seen later and could
-- change which link is an anonymous id's first. Duplicates are harmless either way: readers
-- GROUP BY. The dedup window makes a retried flush (same token) write no second block.
CREATE TABLE IF NOT EXISTS identities {on_cluster}
(
    tenant_id     UInt32,
    anonymous_id  String,
    user_id       String,
    first_seen    SimpleAggregateFunction(min, DateTime64(3, 'UTC'))
)
ENGINE = {replicated}AggregatingMergeTree
ORDER BY (tenant_id, anonymous_id, user_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- TRICKY: the ARRAY JOIN alias must not be a column of events (anonymous_id is), or it
-- would shadow it; the SELECT renames it for the target.
CREATE MATERIALIZED VIEW IF NOT EXISTS identities_mv {on_cluster} TO identities AS
SELECT tenant_id,
       linked_id AS anonymous_id,
       user_id,
       min(timestamp) AS first_seen
FROM events
ARRAY JOIN arrayDistinct(arrayFilter(x -> x != '' AND x != user_id,
    [visitor_id, if(event_type = 'alias', properties['previousId'], '')])) AS linked_id
WHERE user_id != '' AND is_flagged = 0
GROUP BY tenant_id, linked_id, user_id;

-- The links of the events stored before this migration (the view fires on new inserts only).
INSERT INTO identities
SELECT tenant_id,
       linked_id AS anonymous_id,
       user_id,
       min(timestamp) AS first_seen
FROM events
ARRAY JOIN arrayDistinct(arrayFilter(x -> x != '' AND x != user_id,
    [visitor_id, if(event_type = 'alias', properties['previousId'], '')])) AS linked_id
WHERE user_id != '' AND is_flagged = 0
GROUP BY tenant_id, linked_id, user_id;
