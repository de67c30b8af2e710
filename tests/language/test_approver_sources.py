"""An approver source (``approvers:`` of a multi-party approval) in people's words."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("source", "en", "zh"), [
    (("user", "boss", 0, None), "boss", "boss"),
    (("role", "qa", 0, None), "a holder of QA", "“质检”角色的人员"),
    (("field", "start.owner", 0, None), "the person in start.owner", "start.owner 所填的人员"),
    (("pick", "qa", 0, "start.pick"), "the person picked in start.pick from QA", "在 start.pick 中从“质检”选定的人员"),
    (("manager", "starter", 1, None), "the manager of the starter", "发起人的上级"),
    (("manager", "starter", 2, None), "the manager 2 level(s) above the starter", "发起人向上 2 级的上级"),
    (("head_of", "starter", 0, None), "the head of the starter's department", "发起人所在部门的负责人"),
    (("head_of", "service", 1, None), "the head 1 level(s) above service", "service向上 1 级的负责人"),
])
def test_an_approver_source_reads_as_people_say_it(source, en, zh):
    """What the record page says when an approver resolved to nobody: the source in words,
    not as the YAML wrote it (``manager: starter +2``)."""
    from engine import i18n
    from engine.language.procedure import ApproverSource

    src = ApproverSource(*source)
    titles = {"qa": {"en": "QA", "zh": "质检"}}
    for locale, expected in (("en", en), ("zh", zh)):
        i18n.set_locale(locale)
        try:
            assert src.shown(lambda r, loc=locale: titles[r][loc]) == expected
        finally:
            i18n.reset()
