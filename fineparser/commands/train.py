"""``fineparser train``: train (or resume) Uni-FineParser with ground-truth, pseudo or no masks."""

from __future__ import annotations

import click


@click.command("train")
@click.option("--config", "config", type=click.Path(exists=True, dir_okay=False),
              help="JSON training configuration (TrainConfig keys; a run's config.json works).")
@click.option("--dataset", help="finediving, synthetic, mtlaqa or aqa7.")
@click.option("--data-root", help="Dataset root folder.")
@click.option("--store", help="Mask store root (for --masks gtm|pm).")
@click.option("--masks", help="gtm (corrected layer), pm (pseudo layer) or none.")
@click.option("--preset", "model_preset", help="Model preset: paper, demo or tiny.")
@click.option("--run-dir", help="Output folder: checkpoints, metrics.jsonl, config.json.")
@click.option("--resume", type=click.Path(exists=True),
              help="Resume from a checkpoint (or a run folder's last.pt), exactly.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override any TrainConfig field, or model.<field>; repeatable.")
def train(config, dataset, data_root, store, masks, model_preset, run_dir, resume, overrides) -> None:
    """Train Uni-FineParser; one JSON line of metrics per epoch (also in RUN_DIR/metrics.jsonl).

    Configuration order: defaults, --config, the options above, --set. Several GPUs or nodes:
    torchrun --nproc-per-node N $(which fineparser) train ...

    Example: fineparser train --config configs/demo.json --masks gtm --set epochs=20
    """
    import logging

    from fineparser.engine import run_training

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    result = run_training(config, overrides, resume, dataset=dataset, data_root=data_root,
                          store=store, masks=masks, model_preset=model_preset, run_dir=run_dir)
    best = "n/a" if result.best_epoch == 0 else f"{result.best_rho:.4f} (epoch {result.best_epoch})"
    click.echo(f"done: {result.epochs} epochs in {result.run_dir}; best Spearman rho {best}; "
               f"checkpoints {result.run_dir / 'best.pt'}, {result.run_dir / 'last.pt'}")
