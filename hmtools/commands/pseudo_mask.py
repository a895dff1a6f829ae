"""``hmtools pseudo-mask``: track and segment athletes in raw videos or dataset clips.

Choices come from the registries (``hmtools.pseudo.backends``, ``hmtools.datasets``, the OSTrack
configurations and SAM checkpoints) and defaults from :class:`PseudoMaskSettings`; nothing is
retyped here.
"""

from __future__ import annotations

import click

from hmtools.atomic import new_folder_removed_on_error
from hmtools.commands.sam2_options import sam2_options
from hmtools.datasets import DATASET_KINDS
from hmtools.pseudo.backends import DETECTORS, SEGMENTERS, TRACKERS
from hmtools.pseudo.inputs import VideoJob
from hmtools.pseudo.ostrack.config import PUBLISHED_CONFIGS
from hmtools.pseudo.sam import SAM_CHECKPOINTS
from hmtools.pseudo.settings import PseudoMaskSettings

DEFAULTS = PseudoMaskSettings()


@click.command("pseudo-mask")
@click.argument("source", type=click.Path(exists=True))
@click.option("--store", "store_root", required=True, type=click.Path(), help="Mask store folder (created if missing).")
@click.option("--dataset", type=click.Choice(DATASET_KINDS),
              help="Read SOURCE as this dataset's root (synchronized clips get two objects).")
@click.option("--split", help="Only this split of the dataset (train/test).")
@click.option("--prompts", "prompts_path", type=click.Path(exists=True, dir_okay=False),
              help="CSV/JSON of start boxes: video,frame,object_id,x1,y1,x2,y2.")
@click.option("--truth-prompts", is_flag=True,
              help="With --dataset synthetic: start boxes from the true masks (first visible frame).")
@click.option("--detect", type=click.Choice(list(DETECTORS)), default=DEFAULTS.detect,
              help="Find people on the first frames of videos without prompts.")
@click.option("--detect-frames", type=click.IntRange(min=1), default=DEFAULTS.detect_frames, show_default=True,
              help="Frames searched by --detect.")
@click.option("--objects", type=click.IntRange(min=1), default=VideoJob.n_objects, show_default=True,
              help="Objects per raw video for --detect.")
@click.option("--tracker", type=click.Choice(list(TRACKERS)), default=DEFAULTS.tracker, show_default=True)
@click.option("--segmenter", type=click.Choice(list(SEGMENTERS)), default=DEFAULTS.segmenter, show_default=True)
@click.option("--ostrack-checkpoint", type=click.Path(), default=DEFAULTS.ostrack_checkpoint,
              help="OSTrack_ep0300.pth.tar of the chosen config.")
@click.option("--ostrack-config", type=click.Choice(PUBLISHED_CONFIGS), default=DEFAULTS.ostrack_config,
              show_default=True)
@click.option("--sam-checkpoint", type=click.Path(), default=DEFAULTS.sam_checkpoint, help="sam_vit_{h,l,b}_*.pth.")
@click.option("--sam-model", type=click.Choice(list(SAM_CHECKPOINTS)), default=DEFAULTS.sam_model, show_default=True)
@click.option("--sam-batch", type=click.IntRange(min=1), default=DEFAULTS.sam_encoder_batch, show_default=True,
              help="Frames per SAM encoder call (with --tracker ostrack).")
@sam2_options
@click.option("--device", default=DEFAULTS.device, show_default=True, help="cpu or cuda (cuda:LOCAL_RANK under torchrun).")
@click.option("--full-precision", is_flag=True, default=not DEFAULTS.half,
              help="Keep fp32 on CUDA (default: bf16/fp16 autocast).")
@click.option("--shard", help="K/N: process every N-th video starting at K (default: torchrun RANK/WORLD_SIZE).")
@click.option("--allow-pickled-objects", is_flag=True, default=DEFAULTS.allow_pickled_objects,
              help="Load checkpoints that pickled training objects (unknown classes become placeholders).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def pseudo_mask(source, store_root, dataset, split, prompts_path, truth_prompts, detect, detect_frames, objects, tracker,
                segmenter, ostrack_checkpoint, ostrack_config, sam_checkpoint, sam_model, sam_batch, sam2_checkpoint,
                sam2_config, sam2_chunk_frames, device, full_precision, shard, allow_pickled_objects, no_progress):
    """Write the pseudo layer of the mask store for SOURCE (a video, a folder of videos or frames, a dataset).

    Videos already done with the same settings are skipped; failed videos are listed at the end
    and make the exit status non-zero.

    Example: hmtools pseudo-mask vtest.avi --store store --prompts boxes.csv --tracker opencv --segmenter classical

    SAM 2 (tracks and segments; --segmenter does not apply): --tracker sam2 --sam2-checkpoint sam2.1_hiera_tiny.pt
    """
    from hmtools.pseudo import pipeline

    if truth_prompts and (dataset != "synthetic" or prompts_path):
        raise click.UsageError("--truth-prompts needs --dataset synthetic and no --prompts")
    settings = PseudoMaskSettings(
        tracker=tracker, segmenter=segmenter, ostrack_config=ostrack_config,
        ostrack_checkpoint=ostrack_checkpoint, sam_model=sam_model, sam_checkpoint=sam_checkpoint,
        sam2_checkpoint=sam2_checkpoint, sam2_config=sam2_config, sam2_chunk_frames=sam2_chunk_frames, device=device, detect=detect, detect_frames=detect_frames, sam_encoder_batch=sam_batch,
        half=not full_precision, allow_pickled_objects=allow_pickled_objects)
    # A run that fails before a video is written leaves no store it created (torchrun: another rank may hold it).
    with new_folder_removed_on_error(store_root, keep=lambda: pipeline.store_in_use(store_root)):
        summary = pipeline.pseudo_mask_source(source, pipeline.open_store(store_root), settings, dataset=dataset,
                                              split=split, prompts_path=prompts_path, truth_prompts=truth_prompts,
                                              n_objects=objects, shard=shard, progress=not no_progress)
        for line in summary.lines():
            click.echo(line)
        if summary.failed:
            raise SystemExit(1)
