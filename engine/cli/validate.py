"""``wf validate`` and ``wf simulate``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml

from engine.cli import main
from engine.config import load_config
from engine.i18n import _


def _calendars(cfg):
    from engine.language.calendar import Calendar

    return {name: Calendar.from_config(name, raw) for name, raw in (cfg.get("calendars", default={}) or {}).items()}


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.pass_context
def validate(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Check procedures and forms; print every problem as FILE:LINE:COL: message.

    Procedures are checked against the configuration they will run with (roles need user
    groups, calendars must exist) and may spawn any procedure of the configured folder.
    """
    from engine.language.procedure import load_library

    cfg = load_config(ctx.obj["config_path"])
    lib = load_library(paths, extra_forms=[cfg.path("paths", "forms", default="forms")],
                       extra_procedures=[cfg.path("paths", "procedures", default="procedures")],
                       config=cfg)
    from engine.app.change_control import library_problems

    lib.problems += library_problems(lib)
    for p in lib.problems:
        click.echo(str(p))
    if lib.problems:
        click.echo(_("{n} problem(s) found.", n=len(lib.problems)), err=True)
        sys.exit(1)
    click.echo(_("OK: {procedures} procedure(s), {forms} form(s), no problems.",
                 procedures=len(lib.procedures), forms=len(lib.forms)), err=True)


@main.command()
@click.argument("procedure")
@click.option("--answers", required=True, type=click.Path(exists=True, dir_okay=False), help="YAML file of scripted answers.")
@click.pass_context
def simulate(ctx: click.Context, procedure: str, answers: str) -> None:
    """Run PROCEDURE (a file or an id) in memory with scripted answers and print what happens."""
    from engine.language.procedure import load_library
    from engine.runtime.simulation import SimulationError, report
    from engine.runtime.simulation import simulate as run

    cfg = load_config(ctx.obj["config_path"])
    path = Path(procedure)
    if not path.exists():
        path = cfg.path("paths", "procedures", default="procedures") / f"{procedure}.yaml"
    lib = load_library([path], extra_forms=[cfg.path("paths", "forms", default="forms")])
    for p in lib.problems:
        click.echo(str(p))
    if lib.problems or not lib.procedures:
        sys.exit(1)
    proc = next(iter(lib.procedures.values()))
    script = yaml.safe_load(Path(answers).read_text(encoding="utf-8")) or {}
    library = None
    if any(s.type == "spawn" for s in proc.steps.values()):
        # The procedures the spawn steps open run in memory too.
        library = load_library([cfg.path("paths", "procedures", default="procedures")],
                               extra_forms=[cfg.path("paths", "forms", default="forms")]).procedures
    try:
        sim = run(proc, script, calendars=_calendars(cfg), library=library)
    except SimulationError as exc:
        click.echo(f"{answers}: {exc.message}", err=True)
        sys.exit(1)
    for line in report(proc, sim):
        click.echo(line)
    expect = script.get("expect") or {}
    failed = []
    if "path" in expect and list(expect["path"]) != sim.path:
        failed.append(_("expected path {expected}, got {got}", expected=expect["path"], got=sim.path))
    if "outcome" in expect and expect["outcome"] != sim.outcome:
        failed.append(_("expected outcome {expected}, got {got}", expected=repr(expect["outcome"]),
                         got=repr(sim.outcome)))
    status = sim.state["status"] if sim.state else None
    if "status" in expect and expect["status"] != status:
        failed.append(_("expected status {expected}, got {got}", expected=repr(expect["status"]), got=repr(status)))
    spawned = [sp.procedure for sp in sim.spawned if sp.state is not None]
    if "spawned" in expect and list(expect["spawned"]) != spawned:
        failed.append(_("expected spawned {expected}, got {got}", expected=expect["spawned"], got=spawned))
    failed += [_("spawn step '{step}' could not start '{procedure}': {error}", step=sp.step,
                 procedure=sp.procedure, error=sp.error)
               for sp in sim.spawned if sp.state is None and library and sp.procedure in library]
    for f in failed:
        click.echo(f"{answers}: {f}", err=True)
    if failed:
        sys.exit(1)
