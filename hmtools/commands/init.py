"""``hmtools init``: create an empty mask store."""

from __future__ import annotations

import click


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
def init(directory: str) -> None:
    """Create an empty mask store in DIRECTORY (an existing store is left as it is).

    Example: hmtools init data/store
    """
    from pathlib import Path

    from hmtools.store import MaskStore
    from hmtools.store.store import MARKER

    existed = (Path(directory) / MARKER).is_file()
    store = MaskStore.create(directory)
    if existed:
        click.echo(f"{store.root}: already a mask store ({len(store)} documents)")
    else:
        click.echo(f"{store.root}: created an empty mask store")
