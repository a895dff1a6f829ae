"""``hmtools import-hm``: FineDiving-HM mask folders into the pseudo or corrected layer."""

from __future__ import annotations

import click

from hmtools.datasets import DATASET_KINDS


@click.command("import-hm")
@click.option("--store", "store_dir", required=True, type=click.Path(file_okay=False), help="Mask store folder.")
@click.option("--masks", "masks_root", required=True, type=click.Path(file_okay=False),
              help="Folder holding <competition>/<idx>/<frame>.jpg|png masks.")
@click.option("--dataset", type=click.Choice(DATASET_KINDS), help="Create documents for this dataset's videos.")
@click.option("--data-root", type=click.Path(file_okay=False), help="The dataset's root (with --dataset).")
@click.option("--split", help="Only this split of the dataset (train/test).")
@click.option("--layer", type=click.Choice(["pseudo", "corrected"]), default="corrected", show_default=True,
              help="corrected: the masks are ground truth (gtm); pseudo: they are proposals.")
@click.option("--by", "author", default="FineDiving-HM", show_default=True, help="Author recorded on corrections.")
@click.option("--overwrite", is_flag=True, help="Replace masks already in the layer.")
@click.option("--video", "videos", multiple=True, help="Only these video ids (repeatable).")
@click.option("--strict", is_flag=True,
              help="Refuse a video when some of its frames have no mask file (default: import the frames that "
                   "pair by name, leave the others not annotated, and say how many per video).")
@click.option("--workers", type=click.IntRange(1), default=None, help="Processes decoding images (default: up to 2).")
def import_hm(store_dir, masks_root, dataset, data_root, split, layer, author, overwrite, videos, strict,
              workers) -> None:
    """Import mask folders paired with frames by name; a bad folder is reported and skipped, exit 1.

    Frames without a mask file are left not annotated (not empty) unless --strict; a file that
    names no frame of its video refuses that video.

    Without --dataset the masks go into the store's existing documents.

    Example: hmtools import-hm --store data/store --masks FineDiving_HM --dataset finediving --data-root data/FineDiving
    """
    from hmtools.workflows.finediving_hm import import_hm as run, import_targets
    from hmtools.store import MaskStore

    if bool(dataset) != bool(data_root):
        raise click.UsageError("--dataset and --data-root go together")
    store = MaskStore.open(store_dir)
    targets, failed, failed_ids = import_targets(store, dataset, data_root, split=split,
                                                 video_ids=list(videos) or None)
    report = run(store, masks_root, targets, layer=layer, by=author, overwrite=overwrite,
                 report_unmatched=not videos and not split, workers=workers, strict=strict,
                 known_ids=failed_ids)
    for line in report.gap_lines():
        click.echo(line)
    for line in failed + report.failed:
        click.echo(f"error: {line}", err=True)
    click.echo(report.summary())
    if failed or report.failed:
        raise click.exceptions.Exit(1)
