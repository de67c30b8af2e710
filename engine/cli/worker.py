"""``wf worker``: keep time — fire due reminders, misses, escalations, wake-ups, automatic
starts and notification deliveries."""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from contextlib import ExitStack

import click

from engine import i18n
from engine.app import admin, calendars
from engine.app.database import WORKER_NAME
from engine.cli import main
from engine.cli.db import config_of
from engine.i18n import _


@main.command("worker")
@click.option("--once", is_flag=True, help="Process what is due now (a backlog included) and exit.")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between passes.")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(min=1),
              help="Instances (and deliveries) claimed per transaction.")
@click.option("--parent", type=int, hidden=True,
              help="Stop when this process (the `wf serve` that started the worker) is gone.")
@click.pass_context
def worker_cmd(ctx: click.Context, once: bool, interval: float, batch: int, parent: int | None) -> None:
    """Run the worker loop; several workers on several hosts may share one PostgreSQL."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # The worker's passes at INFO; Alembic's start-up notes (plugins set up, "Context impl",
    # "Will assume ... DDL": nine lines at every start, mailed by cron) only from WARNING.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with ExitStack() as stack:
        try:  # its connections named, so /readyz on PostgreSQL sees the worker at work
            services = stack.enter_context(admin.opened(config_of(ctx), name=WORKER_NAME))
        except admin.SchemaOutdated as exc:
            raise click.ClickException(exc.message) from exc
        worker = admin.worker(services, batch=batch)
        running = _("Worker running every {seconds} s; Ctrl-C to stop.", seconds=format(interval, "g"))
        stopped = _("Worker stopped.")
        # The passes run in English, as outside any request: what they keep in records is
        # keyed (engine.i18n.keep), and their summaries and log lines are read by tools.
        i18n.reset()
        if once:
            click.echo(str(worker.run_once()))
            return
        # What was loaded (procedures, forms, catalogs) lives as long as the loop: out of the
        # collector's reach, so its last collection at exit does not walk it (as wf serve).
        gc.freeze()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        if parent is not None:
            threading.Thread(target=_orphaned, args=(parent, stop), daemon=True).start()
        click.echo(running)
        for short in calendars.holidays_running_out(services):  # deadlines it computes reach past them
            known = f"only up to {short.known_until}" if short.known_until else "for no date"
            logging.getLogger("engine.worker").warning(
                "calendar %s knows public holidays %s: deadlines after that count every weekday as a "
                "working day; upgrade chinesecalendar once the State Council's notice is out, or list the "
                "days under calendars.%s.holidays / workdays and set calendars.%s.holidays_listed_until",
                short.calendar, known, short.calendar, short.calendar)
        for gone in calendars.calendars_gone(services):
            logging.getLogger("engine.worker").warning(
                "running records of %s count their deadlines in calendar %s, which config.yaml no longer has: "
                "they are counted in the default calendar; add calendars.%s back or publish a version naming another",
                gone.procedure, gone.calendar, gone.calendar)
        worker.run(interval, stop)
        click.echo(stopped)


def _orphaned(parent: int, stop: threading.Event) -> None:
    # A `wf serve` killed with SIGKILL cannot stop its worker; the worker notices instead.
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
        time.sleep(1)
