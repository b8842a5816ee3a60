"""Ingestion: wire formats → one canonical Event → write-ahead log → store."""
