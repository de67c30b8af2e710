"""The worker loop: fire due timers (reminders, misses, escalations, wake-ups), automatic
starts, notification deliveries and the dashboard's daily figures; once (``wf worker
--once``) or every few seconds.

Every unit of work is its own short write transaction through ``Database.writing()`` (a
batch of instances, one start, one delivery lease, one procedure's dashboard figures), the
same write queue the web requests wait in, so a web write waits for at most one batch (a few
hundred milliseconds), never for a whole pass. A worker that dies mid-batch leaves its
transaction rolled back and the work due for the next worker. Several workers share one database safely: instances and deliveries are
claimed with ``FOR UPDATE SKIP LOCKED`` and automatic starts under a unique key.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.app import notify, scheduler, uploads
from engine.app.database import Database
from engine.store import kpi_rollup

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from engine.app.service import Workflow

log = logging.getLogger("qualityflow.worker")


@dataclass
class PassStats:
    """What one pass did."""

    claimed: int = 0  # instances whose timer was due
    changed: int = 0  # of those, instances with new events
    started: int = 0  # instances opened by schedules and triggers
    sent: int = 0  # deliveries sent
    failed: int = 0  # delivery attempts that failed (retried later or given up)
    kpi_days: int = 0  # days of dashboard figures recomputed
    swept: int = 0  # unbound uploads removed

    def __str__(self) -> str:
        return (f"timers: {self.claimed} due, {self.changed} fired; starts: {self.started}; "
                f"deliveries: {self.sent} sent, {self.failed} failed; KPI days: {self.kpi_days}; "
                f"unbound uploads removed: {self.swept}")


class Worker:
    """Runs passes over what is due by ``workflow.clock()``."""

    def __init__(self, workflow: Workflow, database: Database | sessionmaker[Session], *,
                 batch: int = 100) -> None:
        # A sessionmaker (tests, benches) gets the same write queue as the server would.
        self.database = database if isinstance(database, Database) else Database(database.kw["bind"])
        self.workflow = workflow
        self.batch = batch
        self.starts = scheduler.Starts()  # what the automatic starts keep between passes

    def run_once(self) -> PassStats:
        """Process everything due now (a backlog included) and return what was done."""
        stats = PassStats()
        self._ticks(stats)
        stats.started = self.starts.fire_due(self.workflow, self.database, self.workflow.clock())
        stats.started += scheduler.retry_spawns(self.workflow, self.database, limit=self.batch)
        if stats.started:
            self._ticks(stats)  # a new instance may already be due (a catch-up start)
        while True:
            sent, failed = notify.deliver_due(self.database, self.workflow.config,
                                              self.workflow.clock(), limit=self.batch)
            stats.sent += sent
            stats.failed += failed
            if sent + failed < self.batch:
                break
        stats.kpi_days = self._kpis()
        # Files of refused or abandoned submissions, a day on (issue 15).
        stats.swept = uploads.sweep_sessions(self.database, self.workflow.clock())
        self.database.beat()  # /readyz: a worker is alive and keeping up
        return stats

    def _kpis(self) -> int:
        # One procedure per transaction: a day's figures of every procedure at once held the
        # write lock for seconds on a busy server.
        with self.database.writing() as s:  # marks procedures without instances as counted
            stale = kpi_rollup.stale(s, self.workflow.clock(), self.workflow.config.timezone)
        days = 0
        for procedure_id in stale:
            with self.database.writing() as s:
                days += self.workflow.refresh_kpis(s, procedure_id)
        return days

    def _ticks(self, stats: PassStats) -> None:
        while True:
            with self.database.writing() as s:
                claimed, changed = self.workflow.tick_due(s, limit=self.batch)
            stats.claimed += claimed
            stats.changed += changed
            if claimed < self.batch:
                return

    def run(self, interval: float, stop: threading.Event) -> None:
        """Pass after pass until ``stop`` is set; an error is logged and the next pass tries again."""
        while not stop.is_set():
            try:
                stats = self.run_once()
                if stats.claimed or stats.started or stats.sent or stats.failed or stats.kpi_days or stats.swept:
                    log.info("%s", stats)
            except Exception:  # a database outage must not end the worker
                log.exception("worker pass failed; retrying in %.0f s", interval)
            stop.wait(interval)


def start_thread(workflow: Workflow, database: Database | sessionmaker[Session], *, interval: float = 5.0,
                 batch: int = 100) -> tuple[threading.Thread, threading.Event]:
    """The worker loop in a daemon thread (tests, the development server); set the event to
    stop it. Never in a process that forks afterwards: see ``engine.cli.serve``."""
    stop = threading.Event()
    thread = threading.Thread(target=Worker(workflow, database, batch=batch).run, args=(interval, stop),
                              name="qualityflow-worker", daemon=True)
    thread.start()
    return thread, stop
