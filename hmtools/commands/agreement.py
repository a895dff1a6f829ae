"""``hmtools agreement``: pseudo masks vs corrections per video and action type, or (``--against``)
the pseudo layers of two backends' stores side by side."""

from __future__ import annotations

import click


@click.command("agreement")
@click.option("--store", "store_dir", required=True, type=click.Path(file_okay=False), help="Mask store folder.")
@click.option("--against", "against_dir", type=click.Path(file_okay=False),
              help="Another store of the same videos (another backend): compare the two pseudo layers.")
@click.option("--by", type=click.Choice(["action_type", "video"]), default="action_type", show_default=True,
              help="Rows of the printed table (the CSV has both).")
@click.option("--video", "videos", multiple=True, help="Only these video ids (repeatable).")
@click.option("--tolerance", "tolerance_px", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Boundary F-score tolerance in pixels.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write videos, action types and ALL as CSV.")
@click.option("--png", "png_path", type=click.Path(dir_okay=False), help="Bar-chart summary per action type.")
def agreement(store_dir, against_dir, by, videos, tolerance_px, csv_path, png_path) -> None:
    """Mean IoU, boundary F-score and share of reviewed frames changed, pseudo vs corrected.

    With --against, the pseudo layers of two stores made by different backends on the same videos:
    IoU and boundary F over the frames either one masked, and the share of frames that differ.

    Example: hmtools agreement --store data/store --png agreement.png --csv agreement.csv

    Example: hmtools agreement --store stores/sam --against stores/sam2 --by video --png sam_vs_sam2.png
    """
    from hmtools.agreement import run_agreement
    from hmtools.review import format_table
    from hmtools.store import MaskStore

    against = MaskStore.open(against_dir) if against_dir else None
    report = run_agreement(MaskStore.open(store_dir), video_ids=list(videos) or None, tolerance_px=tolerance_px,
                           png_path=png_path, csv_path=csv_path, against=against)
    if report.labels:
        click.echo(f"pseudo layers: {store_dir} ({report.labels[0]}) vs {against_dir} ({report.labels[1]}), "
                   f"{len(report.videos)} videos in both", err=True)
        for root, missing in report.only_in.items():
            if missing:
                more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
                click.echo(f"only in {root}: {', '.join(missing[:5])}{more}", err=True)
    click.echo(format_table(report.rows(by)))
    for path in (csv_path, png_path):
        if path:
            click.echo(f"wrote {path}", err=True)
