"""``fineparser info``: parameters and GFLOPs of a model preset next to the paper's numbers."""

from __future__ import annotations

import json

import click


@click.command("info")
@click.option("--preset", default="paper", show_default=True, help="Model preset: paper, demo or tiny.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--no-flops", is_flag=True, help="Skip counting FLOPs (parameters only).")
def info(preset: str, as_json: bool, no_flops: bool) -> None:
    """Parameters (total and per component) and GFLOPs of one query-exemplar pair.

    Example: fineparser info --preset paper --json
    """
    from fineparser.model.build import get_config
    from fineparser.model.summary import summarize_model

    try:
        cfg = get_config(preset)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--preset") from None
    summary = summarize_model(cfg, count_flops=not no_flops)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
        return
    data = summary.to_dict()
    click.echo(f"preset {summary.preset}: one pair of videos {list(summary.input_shape)}")
    for name, count in summary.params_by_component.items():
        click.echo(f"  {name:<10} {count:>12,d}")
    click.echo(f"  {'total':<10} {summary.params_total:>12,d}   = {summary.params_total / 1e6:.2f} M (paper: "
               f"{summary.paper_params / 1e6:.2f} M, {100 * summary.params_vs_paper:+.1f} %)")
    if summary.flops is not None:
        click.echo(f"  {'GFLOPs':<10} {data['gflops']:>12.1f}   (torch counts 2 per multiply-add; "
                   f"{data['gmacs']:.1f} GMACs; paper: {summary.paper_gflops:.2f})")
