"""The ``wf`` command line. Each sub-module registers its commands on ``main``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import click

from engine import i18n
from engine.errors import WorkflowError


def shell_locale(environ: Mapping[str, str]) -> str:
    """The language the shell asks for, as every Unix command reads it: the first of
    ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` that is set (``zh_CN.UTF-8`` -> zh); English for
    any other or none (``C.UTF-8``, a cron job)."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


class _Main(click.Group):
    """``wf``: an application error no command caught (say a database URL that is not one,
    met by ``wf worker``) is still one line, ``Error: ...``, with exit 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WorkflowError as exc:
            raise click.ClickException(exc.message) from None
        finally:
            # A command run in-process (a test's CliRunner, a script calling main) leaves
            # the language as it found it: English outside a request.
            i18n.reset()


@click.group(cls=_Main)
@click.option("--config", "config_path", envvar="WF_CONFIG", default="config.yaml",
              show_default=True, help="Path to config.yaml.")
@click.option("--lang", type=click.Choice(i18n.LOCALES), envvar="WF_LANG", default=None,
              help="Language of messages (zh or en); default: the shell's (LC_ALL, LC_MESSAGES, LANG).")
@click.pass_context
def main(ctx: click.Context, config_path: str, lang: str | None) -> None:
    """Workflow server for quality procedures."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    # Messages (the command's own, the engine's errors, the validator's problems) in the
    # operator's language, as the pages speak the reader's; titles stay as written.
    i18n.set_locale(lang or shell_locale(os.environ), chosen=False)


def _register() -> None:
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


_register()
