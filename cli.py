"""Command-line entry points: ``hmtools`` (masks) and ``fineparser`` (the AQA model).

Commands live in ``hmtools/commands/`` and ``fineparser/commands/`` and are imported only when
invoked, so ``hmtools stats`` never pays for importing torch. To add a command, add one line to
``HMTOOLS_COMMANDS`` or ``FINEPARSER_COMMANDS``: ``"name": "package.module:function"``.
"""

from __future__ import annotations

import importlib

import click

from hmtools.errors import user_message

HMTOOLS_COMMANDS: dict[str, str] = {
    "init": "hmtools.commands.init:init",
    "validate": "hmtools.commands.validate:validate",
    "index": "hmtools.commands.index:index",
    "stats": "hmtools.commands.stats:stats",
    "import-hm": "hmtools.commands.import_hm:import_hm",
    "export-hm": "hmtools.commands.export_hm:export_hm",
    "export-ytvis": "hmtools.commands.export_ytvis:export_ytvis",
    "pseudo-mask": "hmtools.commands.pseudo_mask:pseudo_mask",
    "propagate": "hmtools.commands.propagate:propagate",
    "history": "hmtools.commands.history:history",
    "revert": "hmtools.commands.history:revert",
    "review": "hmtools.commands.review:review",
    "export-cvat": "hmtools.commands.export_cvat:export_cvat",
    "import-cvat": "hmtools.commands.import_cvat:import_cvat",
    "correct": "hmtools.commands.correct:correct",
    "agreement": "hmtools.commands.agreement:agreement",
    "synth": "hmtools.commands.synth:synth",
}

FINEPARSER_COMMANDS: dict[str, str] = {
    "info": "fineparser.commands.info:info",
    "train": "fineparser.commands.train:train",
    "eval": "fineparser.commands.eval:eval_cmd",
    "predict": "fineparser.commands.predict:predict",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use.

    User errors (:class:`hmtools.errors.HMError`, a full disk or a permission denied:
    :func:`hmtools.errors.user_message`) become one-line click errors, no traceback; Ctrl-C is one
    line and exit status 130.
    """

    def __init__(self, *args, lazy_commands: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx, name):
        if name in self.lazy_commands:
            module_name, attr = self.lazy_commands[name].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted (Ctrl-C); files are written atomically, so nothing was left "
                       "half-written", err=True)
            raise click.exceptions.Exit(130) from None
        except Exception as err:  # noqa: BLE001 -- re-raised unless it is the user's
            line = user_message(err)
            if line is None:
                raise
            raise click.ClickException(line) from None


@click.group(cls=LazyGroup, lazy_commands=HMTOOLS_COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hm-aqa")
def hmtools():
    """Make, correct, store and count human-centric masks for sports videos.

    Example: hmtools stats --store data/store --by action_type
    """


@click.group(cls=LazyGroup, lazy_commands=FINEPARSER_COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hm-aqa")
def fineparser():
    """Train, evaluate and run the Uni-FineParser action-quality model.

    Example: fineparser train --config configs/demo.json --masks gtm
    """


if __name__ == "__main__":  # pragma: no cover
    hmtools()
