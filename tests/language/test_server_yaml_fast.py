"""libyaml (the fast loader start-up uses) keeps every position the pure-Python loader gives,
so a problem points at the same line and column whichever parsed the file; a text libyaml
refuses is reported in the pure loader's words."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.language import yaml_source

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*ROOT.glob("procedures/*.yaml"), *ROOT.glob("forms/*.yaml"),
                *ROOT.glob("tests/data/**/*.yaml")])


@pytest.mark.skipif(getattr(yaml, "CSafeLoader", None) is None, reason="PyYAML built without libyaml")
def test_fast_and_pure_loaders_agree_on_data_and_positions():
    assert len(FILES) > 300
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        fast = yaml_source._load(text, str(path), yaml.CSafeLoader)
        pure = yaml_source._load(text, str(path), yaml.SafeLoader)
        if fast.syntax_error:
            continue  # load() parses those again with the pure loader
        assert (fast.data, fast.positions, fast.key_positions, fast.problems) == \
            (pure.data, pure.positions, pure.key_positions, pure.problems), path


def test_syntax_errors_keep_the_pure_loaders_wording():
    text = "id: x\nsteps:\n  a: b: c\n"
    src = yaml_source.load(text, "f.yaml")
    pure = yaml_source._load(text, "f.yaml", yaml.SafeLoader)
    assert src.problems == pure.problems and src.problems[0].line == 3
