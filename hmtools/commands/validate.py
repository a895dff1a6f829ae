"""``hmtools validate``: check every document of a store against the schema and the RLE rules."""

from __future__ import annotations

import click


@click.command("validate")
@click.option("--store", "store_dir", required=True, type=click.Path(file_okay=False), help="Mask store folder.")
@click.option("--workers", type=click.IntRange(1), default=None, help="Processes (default: up to 2).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--fix", is_flag=True, help="Remove leftover temporary files of interrupted writes "
              "(never one a live writer holds).")
def validate(store_dir: str, workers: int | None, quiet: bool, fix: bool) -> None:
    """Check every document (JSON, JSON Schema, RLE runs, areas); one line per bad file, exit 1 if any.

    Example: hmtools validate --store data/store --fix
    """
    from hmtools.store import MaskStore
    from hmtools.store.schema import validate_store

    store = MaskStore.open(store_dir)
    if fix:
        removed, in_use = store.remove_leftovers()
        for path in removed:
            click.echo(f"removed {path}: leftover temporary file of an interrupted write", err=True)
        for path in in_use:
            click.echo(f"note: {path}: its video is being written now; left alone", err=True)
    report = validate_store(store, workers=workers, progress=not quiet)
    for line in report.problems:
        click.echo(line)
    for path in report.leftovers:
        click.echo(f"note: {path}: leftover temporary file of an interrupted write; "
                   "`hmtools validate --fix` removes it", err=True)
    bad = len(report.problems)
    click.echo(f"{report.n_docs} documents checked, {bad} problem(s)", err=True)
    if bad:
        raise click.exceptions.Exit(1)
