"""HTTP API: one router per surface (see docs/api.md), all thin over the domain."""
