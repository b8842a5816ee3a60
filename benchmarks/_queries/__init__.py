"""The report-query benchmark's parts; ``benchmarks/queries.py`` is its command line.

- ``dataset``: the demo data dir, generated once and reused, and its secret key
- ``routes``: the report routes as data, their targets and raw-SQL baselines
- ``raw``: the raw-SQL phase, in the benchmark process, before the server starts
- ``http``: each route over real HTTP, and the dashboard set concurrent and sequential
- ``report``: the table, the JSON results and the Markdown section
"""
