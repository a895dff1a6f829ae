"""``hmtools correct``: the local web editor that walks the review queue."""

from __future__ import annotations

import click

from hmtools.commands.sam2_options import sam2_options
from hmtools.pseudo.backends import SEGMENTERS, TRACKERS
from hmtools.pseudo.settings import PseudoMaskSettings

DEFAULTS = PseudoMaskSettings()


@click.command("correct")
@click.option("--store", "store_dir", required=True, type=click.Path(file_okay=False), help="Mask store folder.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0 = any free port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback only; anything else is refused.")
@click.option("--annotator", help="Recorded as who made the corrections (default: $USER).")
@click.option("--video", "videos", multiple=True, help="Only these video ids (repeatable).")
@click.option("--all", "include_unflagged", is_flag=True, help="Queue every frame with a pseudo mask, not only flagged ones.")
@click.option("--frames-root", type=click.Path(file_okay=False), help="Where the frame images are, if not at each video's source.")
@click.option("--sam-checkpoint", type=click.Path(dir_okay=False), help="Local SAM checkpoint: enables box/click re-prompting.")
@click.option("--sam-model", type=click.Choice(["vit_b", "vit_l", "vit_h"]), default="vit_b", show_default=True)
@click.option("--device", default="cpu", show_default=True, help="Device for SAM (cpu, cuda).")
@click.option("--tracker", type=click.Choice(list(TRACKERS)), default=DEFAULTS.tracker, show_default=True,
              help="Tracker of 'propagate from this frame'.")
@click.option("--segmenter", type=click.Choice(list(SEGMENTERS)), default=DEFAULTS.segmenter, show_default=True,
              help="Segmenter of 'propagate from this frame' (sam uses --sam-checkpoint).")
@sam2_options
@click.option("--open", "open_browser", is_flag=True, help="Open the URL in the default browser.")
def correct(store_dir, port, host, annotator, videos, include_unflagged, frames_root, sam_checkpoint, sam_model,
            device, tracker, segmenter, sam2_checkpoint, sam2_config, sam2_chunk_frames, open_browser) -> None:
    """Serve the editor on 127.0.0.1 with a random token in the URL; Ctrl-C stops it.

    Example: hmtools correct --store data/store --annotator ana --sam-checkpoint sam_vit_b_01ec64.pth
    """
    from hmtools.store import MaskStore
    from hmtools.web.server import serve_editor
    from hmtools.workflows.cvat_import import default_annotator

    def ready(url: str) -> None:
        click.echo(f"editor at {url}  (Ctrl-C to stop)")

    serve_editor(MaskStore.open(store_dir), annotator=annotator or default_annotator(), port=port,
                 host=host, frames_root=frames_root, video_ids=list(videos) or None,
                 include_unflagged=include_unflagged, sam_checkpoint=sam_checkpoint, sam_model=sam_model,
                 device=device, open_browser=open_browser, on_ready=ready,
                 propagate_settings=PseudoMaskSettings(tracker=tracker, segmenter=segmenter, sam_model=sam_model,
                                                       sam_checkpoint=sam_checkpoint, sam2_checkpoint=sam2_checkpoint,
                                                       sam2_config=sam2_config, sam2_chunk_frames=sam2_chunk_frames,
                                                       device=device))
