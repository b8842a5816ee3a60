-- The product catalog: one row per version of a product (PUT /v1/catalog/products).
-- A write inserts a new version with a later updated_at; a delete inserts a version with
-- deleted = 1 (a tombstone), so every change is an append and nothing is mutated.
-- TRICKY: ReplacingMergeTree keeps only the latest version per (tenant_id, product_id) at
-- merge time, and merges run whenever they like: readers must ask for the latest version
-- themselves (shoplens.catalog reads with FINAL, then filters deleted = 0 outside it).
-- Money: price is Int64 minor units of the tenant's base currency (NULL: no price given),
-- with the price as sent (original_price, currency) beside it. stock NULL: not tracked.
CREATE TABLE IF NOT EXISTS products {on_cluster}
(
    tenant_id       UInt32,
    product_id      String,
    name            String,
    category        LowCardinality(String),
    brand           LowCardinality(String),
    price           Nullable(Int64),
    original_price  Nullable(Decimal(38, 9)),
    currency        LowCardinality(String),
    stock           Nullable(Int64),
    image_url       String,
    created_at      DateTime64(3, 'UTC'),
    updated_at      DateTime64(3, 'UTC'),
    deleted         UInt8
)
ENGINE = {replicated}ReplacingMergeTree(updated_at)
ORDER BY (tenant_id, product_id)
SETTINGS non_replicated_deduplication_window = 1000;
