"""A deterministic synthetic diving dataset in the FineDiving layout, with exact masks.

Rendered athletes (one, or two in synchronized competitions) take off, somersault (some twist
first) and enter the water in front of a crowd of the same colours, a scoreboard and a panning
camera. The score is a function of what is visible on the athlete (flight shape, entry angle,
splash) times the difficulty, plus small judge noise: a model that looks at the athlete can learn
it, one that looks at the background cannot. See :mod:`hmtools.synth.plan` for the score and
:mod:`hmtools.synth.generate` for the files.

Example:
    >>> from hmtools.synth import generate
    >>> generate("demo_out/synth", n_videos=24, seed=0)  # doctest: +SKIP
"""

from hmtools.synth.generate import SynthSummary, generate, render_clip
from hmtools.synth.plan import ACTIONS, AthleteFeatures, ClipPlan, execution_score, plan_dataset

__all__ = ["ACTIONS", "AthleteFeatures", "ClipPlan", "SynthSummary", "execution_score",
           "generate", "plan_dataset", "render_clip"]
