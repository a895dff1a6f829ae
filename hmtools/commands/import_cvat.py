"""``hmtools import-cvat``: corrections from a CVAT export into the store's corrected layer."""

from __future__ import annotations

import click

from hmtools.commands.sam2_options import sam2_options
from hmtools.pseudo.backends import SEGMENTERS, TRACKERS
from hmtools.pseudo.settings import PseudoMaskSettings

DEFAULTS = PseudoMaskSettings()


@click.command("import-cvat")
@click.option("--store", "store_dir", required=True, type=click.Path(file_okay=False), help="Mask store folder.")
@click.argument("source", type=click.Path(exists=True))
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option("--annotator", help="Recorded as who made the corrections (default: $USER).")
@click.option("--label", default="athlete", show_default=True, help="CVAT label of the athlete masks.")
@click.option("--propagate", "then_propagate", is_flag=True,
              help="Then re-propagate the changed videos from their corrections (hmtools propagate with "
                   "--tracker/--segmenter).")
@click.option("--tracker", type=click.Choice(list(TRACKERS)), default=DEFAULTS.tracker, show_default=True,
              help="With --propagate.")
@click.option("--segmenter", type=click.Choice(list(SEGMENTERS)), default=DEFAULTS.segmenter, show_default=True,
              help="With --propagate.")
@click.option("--frames-root", type=click.Path(exists=True, file_okay=False),
              help="With --propagate: where the frames are when a document's source does not say.")
@sam2_options
def import_cvat(store_dir, source, dry_run, annotator, label, then_propagate, tracker, segmenter,
                frames_root, sam2_checkpoint, sam2_config, sam2_chunk_frames) -> None:
    """Import SOURCE: annotations.xml (CVAT for images 1.1), instances_default.json (COCO 1.0), a folder or a zip.

    Example: hmtools import-cvat --store data/store task_export.zip --annotator ana --propagate
    """
    from hmtools.store import MaskStore
    from hmtools.workflows.cvat_import import ImportRefused, format_import_report
    from hmtools.workflows.cvat_import import import_cvat as run

    store = MaskStore.open(store_dir)
    try:
        report = run(store, source, annotator=annotator, dry_run=dry_run, label=label)
    except ImportRefused as err:
        if len(err.problems) > 1:
            for line in err.problems:
                click.echo(line, err=True)
        raise
    click.echo(format_import_report(report))
    if then_propagate and not dry_run:
        from hmtools.workflows.propagate import propagate_store

        changed = sorted({c.video_id for c in report.changes})
        settings = PseudoMaskSettings(tracker=tracker, segmenter=segmenter, sam2_checkpoint=sam2_checkpoint,
                                      sam2_config=sam2_config, sam2_chunk_frames=sam2_chunk_frames)
        summary = propagate_store(store, settings,
                                  video_ids=changed, frames_root=frames_root)
        for line in summary.lines():
            click.echo(line)
        if summary.failed:
            raise SystemExit(1)
