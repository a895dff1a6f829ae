"""``hmtools history`` / ``hmtools revert``: a frame's corrections over time, and undoing the last one."""

from __future__ import annotations

import click


@click.command("history")
@click.argument("video_id")
@click.argument("frame", required=False)
@click.option("--store", "store_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Mask store folder.")
def history(video_id, frame, store_dir):
    """List the corrections of VIDEO_ID (or of one FRAME, a name or a 0-based index), oldest first;
    '*' marks the one in effect.

    Example: hmtools history --store store 01__10 00490.jpg
    """
    from hmtools.store import MaskStore
    from hmtools.workflows.history import correction_history

    rows = correction_history(MaskStore.open(store_dir), video_id, frame)
    if not rows:
        click.echo(f"{video_id}: no corrections" + (f" on frame {frame}" if frame else ""))
    for row in rows:
        click.echo(row.line())


@click.command("revert")
@click.argument("video_id")
@click.argument("frame")
@click.option("--store", "store_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Mask store folder.")
@click.option("--object", "obj_id", type=click.IntRange(min=1), help="Only this athlete (default: all corrected).")
def revert(video_id, frame, store_dir, obj_id):
    """Undo the last correction of FRAME (a name or a 0-based index) of VIDEO_ID: the previous one
    comes back, or the pseudo mask when there was none. Atomic, under the video's lock.

    Example: hmtools revert --store store 01__10 00490.jpg
    """
    from hmtools.store import MaskStore
    from hmtools.workflows.history import revert as run

    for line in run(MaskStore.open(store_dir), video_id, frame, obj_id):
        click.echo(line)
