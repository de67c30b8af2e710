"""What every use case needs, opened once per process: the configuration, the database and
the ``Workflow`` with its installed procedures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.app.database import Database
from engine.app.service import Clock, Workflow, utcnow
from engine.config import Config
from engine.store import make_engine, upgrade


@dataclass
class Services:
    config: Config
    database: Database
    workflow: Workflow

    def now(self) -> datetime:
        """The server's clock (injectable in tests), as the worker sees it."""
        return self.workflow.clock()


def open_services(config: Config, *, clock: Clock = utcnow, migrate: bool = True) -> Services:
    """Connect to the configured database, bring its schema up to date and install the
    procedure library (new versions only; a library already installed costs one read)."""
    engine = make_engine(config.database_url)
    if migrate:
        upgrade(engine)
    database = Database(engine)
    workflow = Workflow(config, clock=clock)
    library = workflow.read_library()
    with database.writing() as session:
        workflow.load_procedures(session, library=library)
    return Services(config, database, workflow)
