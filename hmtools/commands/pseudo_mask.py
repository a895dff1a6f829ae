"""``hmtools pseudo-mask``: track and segment athletes in raw videos or dataset clips."""

from __future__ import annotations

import click

from hmtools.datasets import DATASET_KINDS


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
@click.option("--detect", type=click.Choice(["hog"]), help="Find people on the first frames of videos without prompts.")
@click.option("--detect-frames", type=click.IntRange(min=1), default=10, show_default=True, help="Frames searched by --detect.")
@click.option("--objects", type=click.IntRange(min=1), default=1, show_default=True, help="Objects per raw video for --detect.")
@click.option("--tracker", type=click.Choice(["ostrack", "opencv", "none"]), default="opencv", show_default=True)
@click.option("--segmenter", type=click.Choice(["sam", "classical"]), default="classical", show_default=True)
@click.option("--ostrack-checkpoint", type=click.Path(), help="OSTrack_ep0300.pth.tar of the chosen config.")
@click.option("--ostrack-config", type=click.Choice(["vitb_256", "vitb_384"]), default="vitb_256", show_default=True)
@click.option("--sam-checkpoint", type=click.Path(), help="sam_vit_{h,l,b}_*.pth.")
@click.option("--sam-model", type=click.Choice(["vit_h", "vit_l", "vit_b"]), default="vit_h", show_default=True)
@click.option("--sam-batch", type=click.IntRange(min=1), default=4, show_default=True, help="Frames per SAM encoder call (with --tracker ostrack).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda (cuda:LOCAL_RANK under torchrun).")
@click.option("--full-precision", is_flag=True, help="Keep fp32 on CUDA (default: bf16/fp16 autocast).")
@click.option("--shard", help="K/N: process every N-th video starting at K (default: torchrun RANK/WORLD_SIZE).")
@click.option("--allow-pickled-objects", is_flag=True,
              help="Load checkpoints that pickled training objects (unknown classes become placeholders).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def pseudo_mask(source, store_root, dataset, split, prompts_path, truth_prompts, detect, detect_frames, objects, tracker,
                segmenter, ostrack_checkpoint, ostrack_config, sam_checkpoint, sam_model, sam_batch, device,
                full_precision, shard, allow_pickled_objects, no_progress):
    """Write the pseudo layer of the mask store for SOURCE (a video, a folder of videos or frames, a dataset).

    Videos already done with the same settings are skipped; failed videos are listed at the end
    and make the exit status non-zero.

    Example: hmtools pseudo-mask vtest.avi --store store --prompts boxes.csv --tracker opencv --segmenter classical
    """
    from hmtools.pseudo.pipeline import (PseudoMaskSettings, generate_pseudo_masks, jobs_from_path,
                                         parse_shard)
    from hmtools.pseudo.prompts import read_prompts

    settings = PseudoMaskSettings(
        tracker=tracker, segmenter=segmenter, ostrack_config=ostrack_config,
        ostrack_checkpoint=ostrack_checkpoint, sam_model=sam_model, sam_checkpoint=sam_checkpoint,
        device=device, detect=detect, detect_frames=detect_frames, sam_encoder_batch=sam_batch,
        half=not full_precision, allow_pickled_objects=allow_pickled_objects)
    if truth_prompts and (dataset != "synthetic" or prompts_path):
        raise click.UsageError("--truth-prompts needs --dataset synthetic and no --prompts")
    jobs = jobs_from_path(source, dataset=dataset, split=split, n_objects=objects)
    prompts = read_prompts(prompts_path) if prompts_path else None
    if truth_prompts:
        from hmtools.datasets import open_dataset
        from hmtools.pseudo.synth_eval import synth_prompts

        prompts = synth_prompts(source, open_dataset("synthetic", source).samples(split))
    summary = generate_pseudo_masks(jobs, store_root, settings, prompts=prompts,
                                    shard=parse_shard(shard) if shard else None,
                                    progress=not no_progress)
    for line in summary.lines():
        click.echo(line)
    if summary.failed:
        raise SystemExit(1)
