"""The ``wf`` command line. Each sub-module registers its commands on ``main``."""

from __future__ import annotations

from typing import Any

import click

from engine.errors import WorkflowError


class _Main(click.Group):
    """``wf``: an application error no command caught (say a database URL that is not one,
    met by ``wf worker``) is still one line, ``Error: ...``, with exit 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WorkflowError as exc:
            raise click.ClickException(exc.message) from None


@click.group(cls=_Main)
@click.option("--config", "config_path", envvar="WF_CONFIG", default="config.yaml",
              show_default=True, help="Path to config.yaml.")
@click.pass_context
def main(ctx: click.Context, config_path: str) -> None:
    """Workflow server for quality procedures."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


def _register() -> None:
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


_register()
