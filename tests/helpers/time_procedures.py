"""Time tests with procedures of their own: a copy of tests/data/time with extra procedures,
and a Workflow on it with its people."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from engine.app.service import Workflow
from engine.config import load_config
from tests.helpers.service import ROOT
from tests.helpers.time import TIME, time_setup


def time_dir(tmp_path: Path, procedures: dict[str, str]) -> Path:
    root = tmp_path / "timedata"
    shutil.copytree(TIME, root)
    for name, text in procedures.items():
        (root / "procedures" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return root


def setup(sessions, clock, tmp_path: Path, procedures: dict[str, str], **overrides: Any) -> Workflow:
    root = time_dir(tmp_path, procedures)
    cfg = load_config(ROOT / "config.yaml", overrides={
        "paths.procedures": str(root / "procedures"), "paths.forms": str(root / "forms"),
        "roles": {"clerk": ["clerks"], "chief": ["chiefs"], "director": ["directors"]}, **overrides})
    return time_setup(sessions, clock, cfg)
