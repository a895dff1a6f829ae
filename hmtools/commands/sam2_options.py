"""The SAM 2 options shared by ``pseudo-mask`` and ``propagate`` (one declaration, two commands)."""

from __future__ import annotations

import click

from hmtools.pseudo.sam2_video import SAM2_CONFIGS
from hmtools.pseudo.settings import PseudoMaskSettings

DEFAULTS = PseudoMaskSettings()


def sam2_options(command):
    """Add ``--sam2-checkpoint``, ``--sam2-config`` and ``--sam2-chunk`` (keyword arguments
    ``sam2_checkpoint``, ``sam2_config``, ``sam2_chunk_frames``, as in :class:`PseudoMaskSettings`)."""
    command = click.option("--sam2-chunk", "sam2_chunk_frames", type=click.IntRange(min=2),
                           default=DEFAULTS.sam2_chunk_frames, show_default=True,
                           help="Frames per SAM 2 memory chunk, each seeded by the previous chunk's last masks.")(command)
    command = click.option("--sam2-config", type=click.Choice(list(SAM2_CONFIGS)), default=DEFAULTS.sam2_config,
                           help="SAM 2 model of --sam2-checkpoint (default: from its official file name).")(command)
    return click.option("--sam2-checkpoint", type=click.Path(), default=DEFAULTS.sam2_checkpoint,
                        help="sam2.1_hiera_{tiny,small,base_plus,large}.pt (with --tracker sam2).")(command)
