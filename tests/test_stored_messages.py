"""Messages stored in records (why a task has no due time, why an escalation went to a
role) are kept with their key and parameters and shown in each reader's language; texts
stored before keys were kept are shown as they are (translated when a whole text of the
catalogue)."""

from __future__ import annotations

from engine.i18n import keep, shown


def test_a_kept_message_reads_in_each_language():
    text, stored = keep("{holder} has no manager", holder="clerk1")
    assert text == "clerk1 has no manager" and stored == {"key": "{holder} has no manager",
                                                           "params": {"holder": "clerk1"}}
    assert shown(text, stored, "zh") == "clerk1 没有登记上级"
    assert shown(text, stored, "en") == "clerk1 has no manager"
    assert shown(*keep("nobody held the task"), "zh") == "任务无人领取"


def test_older_records_show_their_text():
    assert shown("clerk1 has no manager", None, "zh") == "clerk1 has no manager"  # as stored
    assert shown("nobody held the task", None, "zh") == "任务无人领取"  # a whole text of the catalogue
    assert shown(None, None, "zh") == ""
    # a key whose placeholders no longer match: the stored text still says it
    assert shown("was X", {"key": "{holder} has no manager", "params": {"who": "x"}}, "zh") == "was X"
