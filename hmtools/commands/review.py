"""``hmtools review``: the frames to check first, ranked by their flags, as a table, CSV and contact sheet."""

from __future__ import annotations

import click


@click.command("review")
@click.option("--store", "store_dir", required=True, type=click.Path(file_okay=False), help="Mask store folder.")
@click.option("--video", "videos", multiple=True, help="Only these video ids (repeatable).")
@click.option("--stale", is_flag=True, help="List corrections whose pseudo mask has changed since instead.")
@click.option("--all", "include_unflagged", is_flag=True, help="Rank every frame with a pseudo mask, not only flagged ones.")
@click.option("--include-corrected", is_flag=True, help="Keep frames that already have a correction.")
@click.option("--limit", type=click.IntRange(min=1), help="Keep only the N worst frames.")
@click.option("--show", type=click.IntRange(min=0), default=30, show_default=True, help="Rows printed (0 = all).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write the whole list as CSV.")
@click.option("--png", "png_path", type=click.Path(dir_okay=False), help="Contact sheet of the worst frames with mask overlays.")
@click.option("--sheet-n", type=click.IntRange(min=1), default=24, show_default=True, help="Frames on the contact sheet.")
@click.option("--frames-root", type=click.Path(file_okay=False), help="Where the frame images are, if not at each video's source.")
def review(store_dir, videos, stale, include_unflagged, include_corrected, limit, show, csv_path, png_path,
           sheet_n, frames_root) -> None:
    """Rank the frames a person should check (flag reasons and quality signals), worst first.

    Example: hmtools review --store data/store --limit 200 --csv queue.csv --png worst.png
    """
    from hmtools.review import format_table, run_review
    from hmtools.store import MaskStore

    report = run_review(MaskStore.open(store_dir), video_ids=list(videos) or None, stale=stale,
                        include_corrected=include_corrected, include_unflagged=include_unflagged, limit=limit,
                        csv_path=csv_path, png_path=png_path, sheet_n=sheet_n, frames_root=frames_root)
    what = "stale correction(s)" if stale else "frame(s) to review"
    click.echo(format_table(report.rows(), max_rows=show or None))
    click.echo(f"{len(report.items)} {what}", err=True)
    for path in (report.csv_path, report.png_path):
        if path:
            click.echo(f"wrote {path}", err=True)
