-- Raw events: one row per event, every field the wire formats carry, typed.
-- Money is Int64 minor units of the tenant's base currency; the amount as sent is kept
-- beside it with its currency. The sorting key starts with tenant_id (every query is
-- scoped to one tenant), then event_type (every report asks for a few types).
-- ReplacingMergeTree is a backstop against duplicates; exactly-once comes from the
-- flusher's insert_deduplication_token, which needs the dedup window set here AND on
-- every materialized-view target below.
CREATE TABLE IF NOT EXISTS events {on_cluster}
(
    tenant_id         UInt32,
    event_id          UUID,
    event_type        LowCardinality(String),
    event_name        String,
    source            LowCardinality(String),
    timestamp         DateTime64(3, 'UTC'),
    received_at       DateTime64(3, 'UTC'),
    user_id           String,
    anonymous_id      String,
    visitor_id        String,
    session_id        String,
    cart_id           String,
    page_url          String,
    page_path         String,
    page_title        String,
    referrer          String,
    utm_source        LowCardinality(String),
    utm_medium        LowCardinality(String),
    utm_campaign      LowCardinality(String),
    utm_term          String,
    utm_content       String,
    channel           LowCardinality(String),
    device_type       LowCardinality(String),
    platform          LowCardinality(String),
    os                LowCardinality(String),
    browser           LowCardinality(String),
    country           LowCardinality(String),
    region            LowCardinality(String),
    city              String,
    user_agent        String,
    ip_hash           String,
    transaction_id    String,
    currency          LowCardinality(String),
    revenue           Int64,
    discount          Int64,
    shipping          Int64,
    tax               Int64,
    original_currency LowCardinality(String),
    original_revenue  Decimal(38, 9),
    coupon_code       String,
    search_term       String,
    item_count        UInt32,
    is_flagged        UInt8,
    fraud_reasons     Array(LowCardinality(String)),
    properties        Map(String, String),
    INDEX idx_user_id user_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_transaction_id transaction_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = {replicated}ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (tenant_id, event_type, timestamp, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per item of an event (seed 002's item fields), prices in base-currency minor units.
CREATE TABLE IF NOT EXISTS event_items {on_cluster}
(
    tenant_id       UInt32,
    event_id        UUID,
    event_type      LowCardinality(String),
    timestamp       DateTime64(3, 'UTC'),
    user_id         String,
    transaction_id  String,
    item_index      UInt16,
    item_id         String,
    item_name       String,
    item_category   LowCardinality(String),
    item_brand      LowCardinality(String),
    item_variant    String,
    item_list_name  String,
    item_list_id    String,
    item_image_url  String,
    price           Int64,
    quantity        Int32,
    currency        LowCardinality(String),
    original_price  Decimal(38, 9),
    original_currency LowCardinality(String),
    coupon_code     String,
    discount        Int64,
    is_flagged      UInt8,
    INDEX idx_user_id user_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = {replicated}ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (tenant_id, event_type, timestamp, event_id, item_index)
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per custom property, for filtering and grouping by property without map scans.
CREATE TABLE IF NOT EXISTS event_properties {on_cluster}
(
    tenant_id   UInt32,
    event_id    UUID,
    event_type  LowCardinality(String),
    timestamp   DateTime64(3, 'UTC'),
    user_id     String,
    key         LowCardinality(String),
    value       String
)
ENGINE = {replicated}ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (tenant_id, key, timestamp, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS event_properties_mv {on_cluster} TO event_properties AS
SELECT tenant_id, event_id, event_type, timestamp, user_id,
       key, value
FROM events
ARRAY JOIN mapKeys(properties) AS key, mapValues(properties) AS value;

-- TRICKY: aggregates are written as events.col because an alias equal to a column name
-- (sum(revenue) AS revenue) would otherwise be read as nested aggregation.
-- Hourly rollup of events (UTC hours, so any whole-hour tenant timezone can be answered
-- from it). Revenue excludes nothing here: is_flagged is a key so reports choose.
CREATE TABLE IF NOT EXISTS events_hourly {on_cluster}
(
    tenant_id    UInt32,
    hour         DateTime('UTC'),
    event_type   LowCardinality(String),
    is_flagged   UInt8,
    events       SimpleAggregateFunction(sum, UInt64),
    revenue      SimpleAggregateFunction(sum, Int64),
    discount     SimpleAggregateFunction(sum, Int64),
    shipping     SimpleAggregateFunction(sum, Int64),
    tax          SimpleAggregateFunction(sum, Int64),
    items        SimpleAggregateFunction(sum, UInt64),
    visitors     AggregateFunction(uniq, String),
    users        AggregateFunction(uniq, String),
    sessions     AggregateFunction(uniq, String)
)
ENGINE = {replicated}AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, event_type, hour, is_flagged)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS events_hourly_mv {on_cluster} TO events_hourly AS
SELECT tenant_id,
       toStartOfHour(timestamp) AS hour,
       event_type,
       is_flagged,
       count() AS events,
       sum(events.revenue) AS revenue,
       sum(events.discount) AS discount,
       sum(events.shipping) AS shipping,
       sum(events.tax) AS tax,
       sum(toUInt64(events.item_count)) AS items,
       uniqState(visitor_id) AS visitors,
       uniqStateIf(user_id, user_id != '') AS users,
       uniqStateIf(session_id, session_id != '') AS sessions
FROM events
GROUP BY tenant_id, hour, event_type, is_flagged;

-- Hourly rollup per item: units, revenue and orders for product reports.
CREATE TABLE IF NOT EXISTS items_hourly {on_cluster}
(
    tenant_id    UInt32,
    hour         DateTime('UTC'),
    event_type   LowCardinality(String),
    item_id      String,
    is_flagged   UInt8,
    events       SimpleAggregateFunction(sum, UInt64),
    quantity     SimpleAggregateFunction(sum, Int64),
    revenue      SimpleAggregateFunction(sum, Int64)
)
ENGINE = {replicated}AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, event_type, hour, item_id, is_flagged)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS items_hourly_mv {on_cluster} TO items_hourly AS
SELECT tenant_id,
       toStartOfHour(timestamp) AS hour,
       event_type,
       item_id,
       is_flagged,
       count() AS events,
       sum(toInt64(event_items.quantity)) AS quantity,
       sum(event_items.price * event_items.quantity) AS revenue
FROM event_items
GROUP BY tenant_id, hour, event_type, item_id, is_flagged;
