"""Alembic migrations of the engine's database, shipped inside the package.

Run them with ``wf db upgrade`` (or ``engine.store.db.upgrade(url)``); no alembic.ini needed.
New revision: ``engine.store.db.alembic_config()`` with ``alembic.command.revision(...,
autogenerate=True)`` against an up-to-date database, then review the script by hand.
"""
