"""``fineparser eval``: multi-exemplar evaluation of a trained checkpoint."""

from __future__ import annotations

import click


@click.command("eval")
@click.option("--checkpoint", required=True, type=click.Path(exists=True),
              help="A run's best.pt or last.pt (a run folder means its last.pt).")
@click.option("--split", help="Split to evaluate (default: the run's eval_split, usually test).")
@click.option("--no-ema", is_flag=True, help="Use the raw weights instead of the EMA weights.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Folder for predictions_<split>.csv and eval_<split>.json (default: the checkpoint's).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Change the stored configuration, e.g. data_root=..., model.num_exemplars=5.")
def eval_cmd(checkpoint, split, no_ema, out_dir, overrides) -> None:
    """Spearman rho and relative L2 (x100) with M-exemplar voting, overall and per action type.

    R-L2 = 100 * mean(((pred - true) / (max(true) - min(true)))^2) (the squared reading).

    Example: fineparser eval --checkpoint runs/demo/best.pt --split test
    """
    import logging

    from fineparser.evaluation import run_eval

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report = run_eval(checkpoint, overrides, split, not no_ema, out_dir)
    m = report.metrics
    click.echo(f"{report.checkpoint} ({report.weights} weights), split {report.split}, n={m.n}")
    click.echo(f"Spearman rho = {_fmt(m.rho)}   R-L2 x100 = {_fmt(m.rl2)}   MAE = {_fmt(m.mae)}")
    click.echo(f"  beside it: Delta = 0 vote (mean exemplar score) rho = {_fmt(report.baseline_rho)}"
               + (f"; SAP attention IoU vs corrected masks = {_fmt(report.attention_iou)}"
                  if report.attention_iou == report.attention_iou else ""))
    click.echo(f"{'action type':<14}{'n':>5}{'rho':>10}{'R-L2x100':>11}{'MAE':>9}")
    for g in m.per_action:
        click.echo(f"{g.name:<14}{g.n:>5}{_fmt(g.rho):>10}{_fmt(g.rl2):>11}{_fmt(g.mae):>9}")
    click.echo(f"predictions: {report.predictions_csv} ({report.predictions_png.name}); "
               f"metrics: {report.metrics_json}")


def _fmt(x: float) -> str:
    return "n/a" if x != x else f"{x:.4f}"
