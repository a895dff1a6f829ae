"""``hmtools agreement``: pseudo masks vs corrections per video and action type."""

from __future__ import annotations

import click


@click.command("agreement")
@click.option("--store", "store_dir", required=True, type=click.Path(file_okay=False), help="Mask store folder.")
@click.option("--by", type=click.Choice(["action_type", "video"]), default="action_type", show_default=True,
              help="Rows of the printed table (the CSV has both).")
@click.option("--video", "videos", multiple=True, help="Only these video ids (repeatable).")
@click.option("--tolerance", "tolerance_px", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Boundary F-score tolerance in pixels.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write videos, action types and ALL as CSV.")
@click.option("--png", "png_path", type=click.Path(dir_okay=False), help="Bar-chart summary per action type.")
def agreement(store_dir, by, videos, tolerance_px, csv_path, png_path) -> None:
    """Mean IoU, boundary F-score and share of reviewed frames changed, pseudo vs corrected.

    Example: hmtools agreement --store data/store --png agreement.png --csv agreement.csv
    """
    from hmtools.agreement import run_agreement
    from hmtools.review import format_table
    from hmtools.store import MaskStore

    report = run_agreement(MaskStore.open(store_dir), video_ids=list(videos) or None, tolerance_px=tolerance_px,
                           png_path=png_path, csv_path=csv_path)
    click.echo(format_table(report.rows(by)))
    for path in (csv_path, png_path):
        if path:
            click.echo(f"wrote {path}", err=True)
