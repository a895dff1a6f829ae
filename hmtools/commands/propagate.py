"""``hmtools propagate``: regenerate the pseudo masks between corrected frames (the anchors).

Choices come from the registries and defaults from :class:`PseudoMaskSettings`, like ``pseudo-mask``.
"""

from __future__ import annotations

import click

from hmtools.commands.sam2_options import sam2_options
from hmtools.datasets import DATASET_KINDS
from hmtools.pseudo.backends import SEGMENTERS, TRACKERS
from hmtools.pseudo.ostrack.config import PUBLISHED_CONFIGS
from hmtools.pseudo.sam import SAM_CHECKPOINTS
from hmtools.pseudo.settings import PseudoMaskSettings

DEFAULTS = PseudoMaskSettings()


@click.command("propagate")
@click.argument("source", required=False, type=click.Path(exists=True))
@click.option("--store", "store_root", required=True, type=click.Path(exists=True, file_okay=False),
              help="Mask store folder.")
@click.option("--dataset", type=click.Choice(DATASET_KINDS), help="Read SOURCE as this dataset's root.")
@click.option("--split", help="Only this split of the dataset (train/test).")
@click.option("--video", "video_ids", multiple=True, help="Only this video (repeatable; without SOURCE).")
@click.option("--frames-root", type=click.Path(exists=True, file_okay=False),
              help="Where the frames are when a document's source does not say (without SOURCE).")
@click.option("--tracker", type=click.Choice(list(TRACKERS)), default=DEFAULTS.tracker, show_default=True)
@click.option("--segmenter", type=click.Choice(list(SEGMENTERS)), default=DEFAULTS.segmenter, show_default=True)
@click.option("--ostrack-checkpoint", type=click.Path(), default=DEFAULTS.ostrack_checkpoint)
@click.option("--ostrack-config", type=click.Choice(PUBLISHED_CONFIGS), default=DEFAULTS.ostrack_config,
              show_default=True)
@click.option("--sam-checkpoint", type=click.Path(), default=DEFAULTS.sam_checkpoint)
@click.option("--sam-model", type=click.Choice(list(SAM_CHECKPOINTS)), default=DEFAULTS.sam_model, show_default=True)
@sam2_options
@click.option("--device", default=DEFAULTS.device, show_default=True)
@click.option("--shard", help="K/N: every N-th video starting at K (default: torchrun RANK/WORLD_SIZE).")
@click.option("--force", is_flag=True, help="Propagate again even with the same anchors and settings.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def propagate(source, store_root, dataset, split, video_ids, frames_root, tracker, segmenter, ostrack_checkpoint,
              ostrack_config, sam_checkpoint, sam_model, sam2_checkpoint, sam2_config, sam2_chunk_frames, device, shard, force, no_progress):
    """Re-propagate the pseudo masks of stored videos from their corrections.

    Corrected frames are anchors: from each one the tracker and segmenter run forward and backward
    up to the next anchor, seeded by the corrected mask, and each frame takes the median of the two
    runs and its current mask (--segmenter seeded follows the corrected mask's colours); only
    pseudo masks of frames without a correction are rewritten. SOURCE (a video, a folder, a dataset with --dataset) says where the
    frames are; without it, every stored video (or --video) is read from its recorded source.
    A video propagated before with the same anchors and settings is skipped.

    Example: hmtools propagate --store store --tracker none --segmenter seeded
    """
    from hmtools.pseudo.inputs import jobs_from_path, parse_shard
    from hmtools.store import MaskStore
    from hmtools.workflows.propagate import propagate_store

    if source and (video_ids or frames_root):
        raise click.UsageError("give SOURCE or --video/--frames-root, not both")
    settings = PseudoMaskSettings(tracker=tracker, segmenter=segmenter, ostrack_config=ostrack_config,
                                  ostrack_checkpoint=ostrack_checkpoint, sam_model=sam_model,
                                  sam_checkpoint=sam_checkpoint, sam2_checkpoint=sam2_checkpoint, sam2_config=sam2_config,
                                  sam2_chunk_frames=sam2_chunk_frames, device=device)
    jobs = jobs_from_path(source, dataset=dataset, split=split) if source else None
    summary = propagate_store(MaskStore.open(store_root), settings, video_ids=list(video_ids) or None, jobs=jobs,
                              shard=parse_shard(shard) if shard else None, frames_root=frames_root,
                              force=force, progress=not no_progress)
    for line in summary.lines():
        click.echo(line)
    if summary.failed:
        raise SystemExit(1)
