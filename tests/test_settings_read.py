"""Every setting the server reads is one ``config.yaml`` may say (``engine/language/settings.py``):
a key read in code but missing there is refused as "unknown setting" when an operator sets it.

Found so: ``uploads.max_pending_bytes`` was read, documented and shown commented out in
config.yaml, and uncommenting it stopped the server with "unknown setting"."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from engine.language.settings import SETTINGS, Kind, check_settings
from engine.language.yaml_source import load as load_yaml

ROOT = Path(__file__).resolve().parents[1]
# ``cfg.get("timezone", ...)`` there reads one calendar's own section (``calendars:`` is
# the installation's names, not looked into), not config.yaml's top level.
NOT_CONFIG = {"engine/language/calendar.py"}
READ = re.compile(r'\b(?:config|cfg|conf)\.(?:get|path)\(\s*((?:"[a-z_]+"\s*,\s*)*"[a-z_]+")')


def _read_in_code() -> dict[tuple[str, ...], str]:
    out: dict[tuple[str, ...], str] = {}
    for path in sorted([*ROOT.joinpath("engine").rglob("*.py"), *ROOT.joinpath("web").rglob("*.py")]):
        where = path.relative_to(ROOT).as_posix()
        if where in NOT_CONFIG:
            continue
        for m in READ.finditer(path.read_text(encoding="utf-8")):
            out.setdefault(tuple(re.findall(r'"([a-z_]+)"', m.group(1))), where)
    return out


def _example(keys: tuple[str, ...]) -> dict:
    """A config with ``keys`` set to a value of the kind the settings expect."""
    node: object = SETTINGS
    for key in keys:
        node = node.get(key, None) if isinstance(node, dict) else node  # None: unknown, refused anyway
    value: object = {} if isinstance(node, dict) else 3
    if isinstance(node, Kind):  # under a MAPPING section, or the setting itself
        value = next(v for v in (3, 2.5, "x", True, ["a"], {}) if node.test(v))
    for key in reversed(keys):
        value = {key: value}
    return value


def test_every_setting_read_in_code_is_accepted_in_config_yaml():
    read = _read_in_code()
    assert ("uploads", "max_pending_bytes") in read and ("server", "worker_seconds") in read
    refused = {}
    for keys, where in read.items():
        text = yaml.safe_dump(_example(keys))
        problems = check_settings(load_yaml(text, "config.yaml"))
        if problems:
            refused[".".join(keys)] = (where, [p.message for p in problems])
    assert refused == {}
