-- Exchange rates, quoted the ECB's way: units of `currency` per 1 EUR on `date`.
-- tenant_id 0 holds the global rates (the ECB snapshot shipped with the package, and
-- `shoplens rates load`); any other tenant_id holds that tenant's overrides
-- (PUT /v1/settings/exchange-rates), which replace the global rate for the same date.
-- Loading a (tenant, currency, date) again inserts a row with a later loaded_at.
-- TRICKY: ReplacingMergeTree keeps the latest loaded_at only at merge time: readers ask for
-- it themselves (shoplens.ingest.rates_store reads with FINAL).
CREATE TABLE IF NOT EXISTS exchange_rates {on_cluster}
(
    tenant_id  UInt32,
    currency   LowCardinality(String),
    date       Date,
    rate       Decimal(38, 12),
    source     LowCardinality(String),
    loaded_at  DateTime64(3, 'UTC')
)
ENGINE = {replicated}ReplacingMergeTree(loaded_at)
ORDER BY (tenant_id, currency, date)
SETTINGS non_replicated_deduplication_window = 1000;
