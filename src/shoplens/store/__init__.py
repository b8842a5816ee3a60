"""Where events live: ClickHouse, embedded (chDB) or a server, behind one protocol.

Both implementations take the same SQL text with ClickHouse's ``{name:Type}`` parameters, so
nothing above this package knows which one it talks to.
"""

from __future__ import annotations

from shoplens.store.base import Store, open_store

__all__ = ["Store", "open_store"]
