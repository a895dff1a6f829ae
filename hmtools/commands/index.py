"""``hmtools index``: bring the store's Parquet index up to date (only changed documents are read)."""

from __future__ import annotations

import click


@click.command("index")
@click.option("--store", "store_dir", required=True, type=click.Path(file_okay=False), help="Mask store folder.")
@click.option("--full", is_flag=True, help="Re-read every document instead of only the changed ones.")
@click.option("--workers", type=click.IntRange(1), default=None, help="Processes parsing documents (default: up to 2).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def index(store_dir: str, full: bool, workers: int | None, quiet: bool) -> None:
    """Rebuild <store>/index/{masks,frames}.parquet incrementally and say what changed.

    Example: hmtools index --store data/store
    """
    from hmtools.store import MaskStore
    from hmtools.store.index import build_index

    stats = build_index(MaskStore.open(store_dir), workers=workers, progress=not quiet, full=full)
    for label, ids in (("added", stats.added), ("changed", stats.changed), ("removed", stats.removed)):
        if ids and not stats.full:
            shown = ", ".join(ids[:10]) + (f", ... ({len(ids)} in all)" if len(ids) > 10 else "")
            click.echo(f"{label}: {shown}")
    click.echo(stats.summary())
