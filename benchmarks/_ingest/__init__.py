"""The ingest benchmark's parts; ``benchmarks/ingest.py`` is its command line.

- ``payloads``: realistic events, encoded once as whole HTTP requests
- ``load``: the client processes (minimal keep-alive HTTP/1.1, closed and open loop)
- ``server``: the server under test (started by tests/serverproc.py), its CPU time by
  thread, a profiler (``cprofile_hook`` runs it under cProfile)
- ``scenarios``: the scenarios, run over all client processes, and their targets
- ``lag``: ack→stored lag markers
- ``report``: the table, the JSON results and the Markdown section
- ``profiles``: the server profile's top functions
"""
