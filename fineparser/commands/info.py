"""``fineparser info``: parameters and GFLOPs of a model preset next to the paper's numbers."""

from __future__ import annotations

import json

import click


@click.command("info")
@click.option("--preset", default="paper", show_default=True, help="Model preset: paper, demo or tiny.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a training or model setting, as for `fineparser train` (repeatable), "
                   "e.g. --set model.num_queries=9 --set loss_t=false.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--no-flops", is_flag=True, help="Skip counting FLOPs (parameters only).")
def info(preset: str, overrides: tuple[str, ...], as_json: bool, no_flops: bool) -> None:
    """Parameters (total, per component, both counting conventions), the I3D batch-norm eps and
    GFLOPs of one query-exemplar pair; with --set, of that variant (checked as `train` would).

    Example: fineparser info --preset paper --json
    """
    from fineparser.model.build import MODEL_PRESETS
    from fineparser.model.summary import summarize_model
    from fineparser.train_config import load_train_config

    if preset not in MODEL_PRESETS:
        raise click.BadParameter(f"expected one of {sorted(MODEL_PRESETS)}, got {preset!r}", param_hint="--preset")
    try:  # placeholders for the paths a training needs; nothing is read
        cfg = load_train_config(None, overrides, base={"data_root": "-", "store": "-"}, model_preset=preset)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--set") from None
    summary = summarize_model(cfg.model_config(), count_flops=not no_flops)
    data = summary.to_dict()
    if as_json:
        data["model_config"] = cfg.model_config().to_dict()
        data["train_config"] = {k: v for k, v in cfg.to_dict().items() if k not in ("data_root", "store", "model")}
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"preset {summary.preset}: one pair of videos {list(summary.input_shape)}, "
               f"I3D batch-norm eps {summary.i3d_bn_eps:g}")
    for name, count in summary.params_by_component.items():
        click.echo(f"  {name:<10} {count:>12,d}")
    click.echo(f"  {'total':<10} {summary.params_total:>12,d}   = {summary.params_total / 1e6:.2f} M (paper: "
               f"{summary.paper_params / 1e6:.2f} M, {100 * summary.params_vs_paper:+.1f} %)")
    with_fc = summary.params_by_convention["with_classifier"]
    click.echo(f"  {'+ SVE fc':<10} {with_fc:>12,d}   = {with_fc / 1e6:.2f} M counting the SVE backbone's "
               "classifier, the convention that gives the paper's 51.76 M for FineParser")
    if summary.flops is not None:
        click.echo(f"  {'GFLOPs':<10} {data['gflops']:>12.1f}   (torch counts 2 per multiply-add; "
                   f"{data['gmacs']:.1f} GMACs; paper: {summary.paper_gflops:.2f})")
