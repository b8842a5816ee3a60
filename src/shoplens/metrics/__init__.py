"""The metrics layer: every report's question turned into one bound ClickHouse query.

Routes parse their parameters and call in here; nothing below builds SQL from user input.

- ``period``: the one period model every report route uses — ``period``, ``days``,
  ``start``/``end``, ``time_range`` and ``granularity`` parsed into a :class:`Period`
  (UTC bounds, the tenant's time zone, buckets, the previous period for growth figures).
- the SQL builder: the one place SQL text is assembled, with tenancy and the period's time
  range applied by the compiler and values always bound as ``{name:Type}`` parameters.
- one module per report family (sales, products, customers and cohorts, funnels,
  attribution, real-time), each a function from a request to rows.
- the catalog: the whitelisted metrics and dimensions the custom query may name.
"""
