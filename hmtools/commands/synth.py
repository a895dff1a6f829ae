"""``hmtools synth``: write the deterministic synthetic dataset (FineDiving layout, exact masks)."""

from __future__ import annotations

import os
import re

import click


def _size(_ctx, _param, value: str) -> tuple[int, int]:
    """``WxH`` -> ``(H, W)``."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value)
    if not match:
        raise click.BadParameter(f"expected WIDTHxHEIGHT such as 160x96, got {value!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 80 or height < 48:
        raise click.BadParameter(f"at least 80x48, got {value}")
    return height, width


def _range(_ctx, _param, value: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value)
    if not match or not 24 <= int(match.group(1)) <= int(match.group(2)):
        raise click.BadParameter(f"expected MIN-MAX with 24 <= MIN <= MAX, got {value!r}")
    return int(match.group(1)), int(match.group(2))


@click.command("synth")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--videos", type=click.IntRange(1), default=96, show_default=True,
              help="Clips to generate (12 per competition, a quarter of them synchronized).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed; same seed, same bytes.")
@click.option("--size", "size_hw", default="160x96", show_default=True, callback=_size,
              help="Frame size WIDTHxHEIGHT.")
@click.option("--frames", "frames_range", default="40-70", show_default=True, callback=_range,
              help="Frames per clip, MIN-MAX.")
@click.option("--force", is_flag=True, help="Replace a non-empty OUT (only synth's own files are removed).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Processes rendering clips (default: up to 2 for 8 clips or more); same bytes.")
def synth(out: str, videos: int, seed: int, size_hw: tuple[int, int],
          frames_range: tuple[int, int], force: bool, quiet: bool, workers: int | None) -> None:
    """Write a synthetic diving dataset to OUT: frames, annotation pickles and splits in the
    FineDiving layout, exact masks as FineDiving-HM folders, per-athlete truth and a preview.

    Example: hmtools synth demo_out/synth --videos 96 --seed 0 --size 160x96
    """
    from hmtools.synth import generate

    summary = generate(out, n_videos=videos, seed=seed, size_hw=size_hw,
                       frames_range=frames_range, overwrite=force, progress=not quiet,
                       workers=workers if workers is not None else max(1, min(2, os.cpu_count() or 1, videos // 4)))
    for line in summary.lines():
        click.echo(line)
