"""``fineparser predict``: score one video with a trained checkpoint."""

from __future__ import annotations

import click


@click.command("predict")
@click.argument("video", type=click.Path(exists=True))
@click.option("--checkpoint", required=True, type=click.Path(exists=True),
              help="A training run's best.pt or last.pt.")
@click.option("--action-type", required=True, help="Dive number or class, e.g. 407C (exemplars share it).")
@click.option("--difficulty", type=float, help="Degree of difficulty (needed by DD models).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output folder (default: predict_<video name>).")
@click.option("--snippet", type=int, help="Snippet whose SAP attention is drawn (default: the middle one).")
@click.option("--no-ema", is_flag=True, help="Use the raw weights instead of the EMA weights.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Change the stored configuration, e.g. data_root=... (where the exemplars are).")
def predict(video, checkpoint, action_type, difficulty, out_dir, snippet, no_ema, overrides) -> None:
    """Predicted score, per-step Delta table, attention overlay and temporal-attention plot of VIDEO
    (a video file or a folder of frames).

    Example: fineparser predict clips/dive.mp4 --checkpoint runs/demo/best.pt --action-type 407C
    """
    from fineparser.predict import predict_video

    p = predict_video(video, checkpoint, action_type, difficulty, out_dir, overrides, not no_ema, snippet)
    click.echo(f"{p.video}: predicted score {p.score:.2f} ({p.action_type}, {len(p.exemplars)} "
               f"exemplars, {p.weights} weights)")
    click.echo(f"{'step':>4}  {'Delta mean':>10}  {'std':>7}")
    for m, (a, b) in enumerate(zip(p.delta_mean, p.delta_std), start=1):
        click.echo(f"{m:>4}  {a:>+10.3f}  {b:>7.3f}")
    for note in p.notes:
        click.echo(f"note: {note}")
    shown = [str(x) for x in (p.overlay_png, p.temporal_png, p.json_path) if x is not None]
    click.echo("wrote " + ", ".join(shown))
