"""``hmtools export-cvat``: a CVAT task (images + "CVAT for images 1.1" XML) with the current masks."""

from __future__ import annotations

import click


@click.command("export-cvat")
@click.option("--store", "store_dir", required=True, type=click.Path(file_okay=False), help="Mask store folder.")
@click.argument("out", type=click.Path())
@click.option("--video", "videos", multiple=True, help="Only these video ids (repeatable).")
@click.option("--flagged-only", is_flag=True, help="Only frames of the review queue (flagged, not yet corrected).")
@click.option("--limit", type=click.IntRange(min=1), help="At most N frames (the worst first with --flagged-only).")
@click.option("--label", default="athlete", show_default=True, help="CVAT label of the athlete masks.")
@click.option("--frames-root", type=click.Path(file_okay=False), help="Where the frame images are, if not at each video's source.")
def export_cvat(store_dir, out, videos, flagged_only, limit, label, frames_root) -> None:
    """Write OUT (a new folder, or OUT.zip) with images/<video>/<frame>, annotations.xml and labels.json.

    Example: hmtools export-cvat --store data/store task.zip --flagged-only --limit 500
    """
    from hmtools.store import MaskStore
    from hmtools.workflows.cvat_export import export_cvat_task

    rep = export_cvat_task(MaskStore.open(store_dir), out, video_ids=list(videos) or None,
                           flagged_only=flagged_only, limit=limit, frames_root=frames_root, label=label)
    click.echo(f"wrote {rep.out}: {rep.n_frames} frame(s) of {rep.n_videos} video(s), {rep.n_masks} mask(s), "
               f"{rep.n_empty_frames} frame(s) tagged empty")
