"""``hmtools stats``: masks per action type / class / event / split / layer, from the Parquet index."""

from __future__ import annotations

import click

# Literal copies (importing hmtools.stats here would cost start-up for --help); checked by the tests.
GROUPINGS = ("action_type", "class", "event", "synchronized", "split", "layer", "flagged", "dataset")
DEFAULT_BY = ("action_type", "synchronized", "split", "layer")


@click.command("stats")
@click.option("--store", "store_dir", required=True, type=click.Path(file_okay=False), help="Mask store folder.")
@click.option("--by", "by", multiple=True, type=click.Choice(GROUPINGS),
              help=f"Grouping, repeatable (default: {' '.join(DEFAULT_BY)}).")
@click.option("--layer", type=click.Choice(["effective", "pseudo", "corrected"]), default="effective",
              show_default=True, help="effective = the paper's counting (corrected, else pseudo).")
@click.option("--flagged-only", is_flag=True, help="Count only frames flagged for review.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "markdown", "json"]), default="table",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the table here instead of stdout.")
@click.option("--png", type=click.Path(dir_okay=False), help="Also draw a bar chart (like the paper's Fig. 4).")
@click.option("--png-by", type=click.Choice(GROUPINGS), help="Grouping of the chart (default: the first --by).")
@click.option("--no-refresh", is_flag=True, help="Fail on a stale index instead of updating it.")
def stats(store_dir, by, layer, flagged_only, fmt, output, png, png_by, no_refresh) -> None:
    """Count masks (frames with an effective mask) per group, with the mean foreground ratio.

    Example: hmtools stats --store data/store --by action_type --by synchronized --png fig4.png
    """

    from hmtools.atomic import atomic_write_text
    from hmtools.stats import RENDERERS, compute_stats, stats_to_png
    from hmtools.store import MaskStore

    by = tuple(dict.fromkeys(by or DEFAULT_BY + ((png_by,) if png_by else ())))
    if png_by and png_by not in by:
        by += (png_by,)
    result = compute_stats(MaskStore.open(store_dir), by, layer=layer, flagged_only=flagged_only,
                           refresh=not no_refresh)
    text = RENDERERS[fmt](result)
    if output:
        atomic_write_text(output, text + "\n")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text)
    if png:
        stats_to_png(result, png, png_by or by[0])
        click.echo(f"wrote {png}", err=True)
