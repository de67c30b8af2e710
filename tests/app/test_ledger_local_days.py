"""A ledger column of a form's date-time field (到达时间) is filtered by the local day, month
or minute people see (Asia/Shanghai), as 登记时间 is: the filter compared the text as recorded,
so a time recorded in UTC (``2026-11-30T16:30:00Z``, 00:30 on 1 December here) was missed
by ``2026-12-01`` and one recorded at 00:30 the next day's UTC morning was found by it. A time
typed without a zone is the wall time people typed. Real SQLite (and PostgreSQL) database."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.app import ledgers
from engine.app.access import reader_of
from engine.app.database import Database
from engine.app.ledgers import LedgerFilters
from engine.app.service import Workflow
from engine.app.services import Services
from engine.config import load_config
from engine.errors import QueryInvalid
from engine.store import users
from tests.app.test_records_kpis import OVERRIDES, RECORDS, ROOT

PID = "visit-demo"
PROCEDURE = """\
id: visit-demo
title: 上门服务（测试）
roles:
  quality: 质管部
start:
  roles: [quality]
  form: visit-arrival
  step: done
ledger:
  title: 上门服务台帐
  columns:
    - {field: start.ref, title: 编号}
    - {field: start.arrived_at, title: 到达时间}
steps:
  done: {type: end, title: 结束, outcome: 已结束}
"""
FORM = """\
id: visit-arrival
title: 到达登记
schema:
  type: object
  required: [ref, arrived_at]
  properties:
    ref: {type: string, title: 编号}
    arrived_at: {type: string, format: date-time, title: 到达时间, x-widget: datetime}
"""
# recorded text -> the local (Beijing) day it names
ARRIVALS = {
    "2026-11-30T16:30:00Z": "2026-12-01",        # 00:30 on 1 December in Beijing
    "2026-12-01T00:30:00+08:00": "2026-12-01",
    "2026-12-01T23:30:00+08:00": "2026-12-01",
    "2026-12-01T16:30:00Z": "2026-12-02",        # its UTC text reads 1 December; here it is the 2nd
    "2026-12-01T10:00:00": "2026-12-01",         # no zone: the wall time typed
    "2026-11-30T23:59:00+08:00": "2026-11-30",
}
QUALITY = reader_of(load_config(ROOT / "config.yaml", overrides=OVERRIDES), "q1", ["quality-dept"])


@pytest.fixture
def services(engine, sessions, tmp_path: Path):
    root = tmp_path / "records"
    shutil.copytree(RECORDS, root)
    (root / "procedures" / f"{PID}.yaml").write_text(PROCEDURE, encoding="utf-8")
    (root / "forms" / "visit-arrival.yaml").write_text(FORM, encoding="utf-8")
    cfg = load_config(ROOT / "config.yaml", overrides={
        **OVERRIDES, "paths.procedures": str(root / "procedures"), "paths.forms": str(root / "forms")})
    wf = Workflow(cfg)
    with sessions.begin() as s:
        wf.load_procedures(s)
        users.add_user(s, "q1", "pw-q1", ["quality-dept"], full_name="质管员")
    ids = {}
    for n, text in enumerate(ARRIVALS):
        with sessions.begin() as s:
            ids[text] = wf.start(s, PID, "q1", {"ref": f"V-{n}", "arrived_at": text})["id"]
    found = Services(cfg, Database(engine), wf)
    found.ids = ids  # type: ignore[attr-defined]
    return found


def _found(services, text: str) -> set[str]:
    page = ledgers.ledger_page(services, QUALITY, PID, LedgerFilters(columns={"start.arrived_at": text}))
    return {r["cells"]["start.ref"] for r in page.rows}


def _named(services, day_prefix: str) -> set[str]:
    return {f"V-{n}" for n, (_text, day) in enumerate(ARRIVALS.items()) if day.startswith(day_prefix)}


@pytest.mark.parametrize("day", ["2026-12-01", "2026-12-02", "2026-11-30", "2026-12", "2026-11", "2026"])
def test_a_date_time_column_is_filtered_by_the_local_day_month_or_year(services, day):
    assert _found(services, day) == _named(services, day)


def test_a_minute_is_the_local_minute(services):
    assert _found(services, "2026-12-01 00:30") == {"V-0", "V-1"}
    assert _found(services, "2026-12-02 00:30") == {"V-3"}


def test_a_filter_that_names_no_time_is_refused_at_the_column(services):
    with pytest.raises(QueryInvalid, match="到达时间") as err:
        _found(services, "yesterday")
    assert err.value.errors[0]["field"] == "f.start.arrived_at"
