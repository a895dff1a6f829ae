"""``hmtools export-hm``: FineDiving-HM mask folders from the store."""

from __future__ import annotations

import click


@click.command("export-hm")
@click.option("--store", "store_dir", required=True, type=click.Path(file_okay=False), help="Mask store folder.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for <competition>/<idx>/*.jpg|png.")
@click.option("--layer", type=click.Choice(["effective", "pseudo", "corrected"]), default="effective",
              show_default=True)
@click.option("--format", "fmt", type=click.Choice(["jpg", "png"]), default="jpg", show_default=True,
              help="jpg: what the official FineParser loader reads (it globs *.jpg only); png: lossless.")
@click.option("--missing", type=click.Choice(["empty", "skip"]), default="empty", show_default=True,
              help="Frames without a mask: an all-black mask (the official loader pairs by position), or no file.")
@click.option("--video", "videos", multiple=True, help="Only these video ids (repeatable).")
def export_hm(store_dir: str, out: str, layer: str, fmt: str, missing: str, videos: tuple[str, ...]) -> None:
    """Write one 0/255 mask image per frame, named after the frame, under <out>/<competition>/<idx>/.

    The defaults (--format jpg --missing empty) are readable by the official FineParser loader;
    --format png --missing skip is lossless and keeps frames without a mask as gaps.

    Example: hmtools export-hm --store data/store --out FineDiving_HM
    """
    from hmtools.workflows.finediving_hm import export_hm as run
    from hmtools.store import MaskStore

    report = run(MaskStore.open(store_dir), out, layer=layer, fmt=fmt, missing=missing,
                 video_ids=list(videos) or None)
    click.echo(report.summary())
