"""``hmtools export-ytvis``: the store's masks as one YouTube-VIS JSON file."""

from __future__ import annotations

import click


@click.command("export-ytvis")
@click.option("--store", "store_dir", required=True, type=click.Path(file_okay=False), help="Mask store folder.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="JSON file to write.")
@click.option("--layer", type=click.Choice(["effective", "pseudo", "corrected"]), default="effective",
              show_default=True)
@click.option("--video", "videos", multiple=True, help="Only these video ids (repeatable).")
def export_ytvis(store_dir: str, out: str, layer: str, videos: tuple[str, ...]) -> None:
    """Write videos, one track per athlete, and compressed RLE segmentations (YouTube-VIS layout).

    Example: hmtools export-ytvis --store data/store --out masks_ytvis.json
    """
    import json

    from hmtools.atomic import atomic_write_text
    from hmtools.formats.ytvis import store_to_ytvis
    from hmtools.store import MaskStore

    data = store_to_ytvis(MaskStore.open(store_dir), layer=layer, video_ids=list(videos) or None, progress=True)
    atomic_write_text(out, json.dumps(data, separators=(",", ":")))
    click.echo(f"wrote {out}: {len(data['videos'])} videos, {len(data['annotations'])} tracks")
