"""What every CLI command module shares: the consoles, the ``--data-dir`` and ``--json``
options, settings from flags, the metadata store, and the one way to fail."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shoplens.config import Settings
from shoplens.meta import MetaStore

#: progress, messages and errors (stderr); ``out`` is for results (stdout)
console = Console(stderr=True)
out = Console()

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="SHOPLENS_DATA_DIR",
        help="Data directory.",
        show_default="./shoplens-data",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def settings_for(data_dir: Path | None, **overrides: object) -> Settings:
    """Settings from the environment, with the flags that were given on top."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)  # type: ignore[arg-type]


@contextmanager
def open_meta(settings: Settings) -> Iterator[MetaStore]:
    meta = MetaStore(settings.meta_path)
    try:
        yield meta
    finally:
        meta.close()


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error; raise the returned Exit (status 1)."""
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)
