"""``hmtools import-cvat``: corrections from a CVAT export into the store's corrected layer."""

from __future__ import annotations

import click


@click.command("import-cvat")
@click.option("--store", "store_dir", required=True, type=click.Path(file_okay=False), help="Mask store folder.")
@click.argument("source", type=click.Path(exists=True))
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option("--annotator", help="Recorded as who made the corrections (default: $USER).")
@click.option("--label", default="athlete", show_default=True, help="CVAT label of the athlete masks.")
def import_cvat(store_dir, source, dry_run, annotator, label) -> None:
    """Import SOURCE: annotations.xml (CVAT for images 1.1), instances_default.json (COCO 1.0), a folder or a zip.

    Example: hmtools import-cvat --store data/store task_export.zip --annotator ana --dry-run
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
