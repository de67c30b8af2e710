"""``wf worker``: keep time — fire due reminders, misses, escalations, wake-ups, automatic
starts and notification deliveries."""

from __future__ import annotations

import logging
import signal
import threading

import click

from engine.cli import main
from engine.cli.db import open_engine


@main.command("worker")
@click.option("--once", is_flag=True, help="Process what is due now (a backlog included) and exit.")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between passes.")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(min=1),
              help="Instances (and deliveries) claimed per transaction.")
@click.pass_context
def worker_cmd(ctx: click.Context, once: bool, interval: float, batch: int) -> None:
    """Run the worker loop; several workers on several hosts may share one PostgreSQL."""
    from engine.app.service import Workflow
    from engine.app.worker import Worker
    from engine.config import load_config
    from engine.store import session_factory

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = load_config(ctx.obj["config_path"])
    with open_engine(ctx) as engine:
        worker = Worker(Workflow(cfg), session_factory(engine), batch=batch)
        if once:
            click.echo(str(worker.run_once()))
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        click.echo(f"Worker running every {interval:g} s; Ctrl-C to stop.")
        worker.run(interval, stop)
        click.echo("Worker stopped.")
