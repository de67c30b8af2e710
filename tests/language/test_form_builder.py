"""The form builder's model: every kind written as a form the forms language accepts and read
back as the same kind, ids from titles, visibility conditions a picker can show, drag and
drop order, and the round trip over every shipped form (load into the model, save unchanged:
the identical file)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.language import form_kinds, yaml_edit
from engine.language import yaml_source as yamlsrc
from engine.language.form_kinds import (
    Condition,
    builder_fields,
    compose_condition,
    field_id,
    kind_of,
    parse_condition,
    save_fields,
)
from engine.language.forms import parse_form
from engine.language.yaml_edit import EditError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "forms").glob("*.yaml"))
EMPTY = """id: demo
title: 演示
# a comment that must survive every edit
schema:
  type: object
  properties:
    verdict: {type: string, title: 结论, enum: [合格, 不合格]}   # keep me
"""


def checked(text: str):
    form, problems = parse_form(yamlsrc.load(text, "forms/demo.yaml"))
    assert not problems, "\n".join(str(p) for p in problems) + "\n" + text
    return form


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_form_round_trips_through_the_builder_model(path):
    text = path.read_text(encoding="utf-8")
    fields = builder_fields(yaml.safe_load(text)["schema"])
    assert fields, path
    assert save_fields(text, fields) == text
    names = [f.name for f in fields]
    if len(names) > 1:  # dragged to the reverse order and back: the same file again
        reversed_ = yaml_edit.order_fields(text, names[::-1])
        assert [f.name for f in builder_fields(yaml.safe_load(reversed_)["schema"])] == names[::-1]
        assert yaml_edit.order_fields(reversed_, names) == text


def test_the_round_trip_test_sees_a_changed_setting():
    text = (ROOT / "forms" / "after-sales-inspection-result.yaml").read_text(encoding="utf-8")
    fields = builder_fields(yaml.safe_load(text)["schema"])
    temp = next(f for f in fields if f.name == "ambient_temperature")
    temp.settings["maximum"] = 31
    out = save_fields(text, fields)
    assert out != text and "max: 31" in out
    assert sum(a != b for a, b in zip(out.splitlines(), text.splitlines(), strict=True)) == 1


def test_every_shipped_field_has_a_kind_with_a_name_in_both_languages():
    seen = set()
    for path in SHIPPED:
        for f in builder_fields(yaml.safe_load(path.read_text(encoding="utf-8"))["schema"]):
            seen.add(f.kind)
            assert form_kinds.kind_name(f.kind, "zh") != f.kind or f.kind not in form_kinds.KIND_IDS
    assert {"text", "textarea", "number", "single", "yesno", "date", "table", "file", "user"} <= seen


# --------------------------------------------------------------------------- kinds


SPECS = {
    "text": {"placeholder": "如 AB-1234"},
    "textarea": {},
    "number": {"unit": "℃", "minimum": 15, "maximum": 35, "range_min": -40, "range_max": 120},
    "single": {"options": ["合格", "不合格"]},
    "multi": {"options": ["漏水", "异响", "不启动"]},
    "date": {},
    "datetime": {},
    "yesno": {},
    "user": {"several": True},
    "photo": {"max_items": 6},
    "file": {"accept": [".pdf", "image/png"]},
    "table": {"columns": [{"name": "", "type": "text", "title": "部件"},
                          {"name": "qty", "type": "number", "title": "数量", "unit": "件"},
                          {"name": "result", "type": "single", "title": "结果", "options": ["合格", "不合格"]}]},
    "group": {"columns": [{"name": "name", "type": "text", "title": "姓名"},
                          {"name": "phone", "type": "text", "title": "电话"}]},
    "computed": {"compute": "days_between(start_on, end_on)", "unit": "天"},
}


def test_the_builder_offers_every_kind_the_issue_names_in_both_languages():
    assert [form_kinds.kind_name(k.id, "zh") for k in form_kinds.KINDS] == ["文本", "多行文本", "数字（含单位和规格限）", "单选", "多选", "日期",
                                                "日期时间", "是/否", "人员", "照片", "附件", "表格", "分组", "计算值"]
    assert form_kinds.kind_name("photo", "en") == "Photo" and form_kinds.kind_name("photo", "zh") == "照片"
    assert form_kinds.kind_name("signature", "zh") == "签名板" and form_kinds.kind_name("number", "zh", short=True) == "数字"
    assert form_kinds.kind_name("no-such-kind", "zh") == "no-such-kind"
    assert form_kinds.kind_name("number", "zh", short=True) == "数字"
    assert form_kinds.kind_name("number", "en", short=True) == "Number"
    assert set(SPECS) == set(form_kinds.KIND_IDS)


@pytest.mark.parametrize("kind", form_kinds.KIND_IDS)
def test_each_kind_makes_a_valid_field_and_reads_back_as_that_kind(kind):
    text = EMPTY
    if kind == "computed":
        text = yaml_edit.add_field(text, "start_on", type="date", title="开始")
        text = yaml_edit.add_field(text, "end_on", type="date", title="结束")
    out = yaml_edit.add_field(text, "new_field", type=kind, title="新字段", required=kind != "computed",
                              **SPECS[kind])
    form = checked(out)
    schema = form.schema["properties"]["new_field"]
    assert kind_of(schema) == kind
    assert "# a comment that must survive every edit" in out and "# keep me" in out
    model = next(f for f in builder_fields(form.schema) if f.name == "new_field")
    assert save_fields(out, builder_fields(yaml.safe_load(out)["schema"])) == out
    if kind == "number":
        assert schema["x-limits"] == {"min": 15, "max": 35} and schema["minimum"] == -40
        assert model.settings["unit"] == "℃" and model.settings["maximum"] == 35
    if kind == "photo":
        assert schema["x-accept"] == ["image/jpeg", "image/png"] and schema["maxItems"] == 6
    if kind == "multi":
        assert schema["items"]["enum"] == ["漏水", "异响", "不启动"] and model.settings["options"][0] == "漏水"
    if kind == "table":
        assert list(schema["items"]["properties"]) == ["bu_jian", "qty", "result"]
        assert [c.kind for c in model.columns] == ["text", "number", "single"]
    if kind == "user":
        assert schema["type"] == "array" and schema["x-widget"] == "user"


def test_a_photo_from_the_gallery_does_not_force_the_camera():
    out = yaml_edit.add_field(EMPTY, "pics", type="photo", title="现场照片", camera=False)
    schema = checked(out).schema["properties"]["pics"]
    assert kind_of(schema) == "photo" and ".jpg" in schema["x-accept"]


@pytest.mark.parametrize(("kind", "spec", "message"), [
    ("single", {"options": ["只有一个"]}, "at least two options"),
    ("multi", {}, "at least two options"),
    ("table", {}, "at least one column"),
    ("computed", {}, "needs its expression"),
    ("number", {"minimum": 5, "maximum": 1}, "above the upper limit"),
    ("number", {"range_min": 5, "range_max": 1}, "above the largest"),
    ("photo", {"max_items": 0}, "whole number from 1"),
    ("text", {"minimum": 1}, "number fields only"),
    ("nonsense", {}, "unknown field type"),
])
def test_settings_that_make_no_field_are_refused_with_the_fix(kind, spec, message):
    with pytest.raises(EditError, match=message):
        yaml_edit.add_field(EMPTY, "x", type=kind, title="x", **spec)


def test_settings_of_a_multiple_choice_and_a_file_field_change_in_place():
    out = yaml_edit.add_field(EMPTY, "defects", type="multi", title="缺陷", options=["漏水", "异响"])
    out = yaml_edit.add_field(out, "docs", type="file", title="附件", accept=[".pdf"])
    out2 = yaml_edit.update_field(out, "defects", options=["漏水", "异响", "冒烟"])
    out2 = yaml_edit.update_field(out2, "docs", accept=[".pdf", ".docx"], max_items=3)
    schema = checked(out2).schema["properties"]
    assert schema["defects"]["items"]["enum"] == ["漏水", "异响", "冒烟"]
    assert schema["docs"]["x-accept"] == [".pdf", ".docx"] and schema["docs"]["maxItems"] == 3


# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize(("title", "taken", "expected"), [
    ("环境温度", (), "huan_jing_wen_du"),
    ("环境温度", ("huan_jing_wen_du",), "huan_jing_wen_du_2"),
    ("环境温度", ("huan_jing_wen_du", "huan_jing_wen_du_2"), "huan_jing_wen_du_3"),
    ("输出电压 (V)", (), "shu_chu_dian_ya_v"),
    ("1号电机", (), "f_1_hao_dian_ji"),
    ("Serial No.", (), "serial_no"),
    ("是/否", (), "shi_fou"),
    ("", (), "field"),
    ("！！", (), "field"),
    ("In", (), "in_2"),  # a word of the expression language cannot be a field name
    ("重量", (), "zhong_liang"),
])
def test_ids_are_made_from_titles(title, taken, expected):
    assert field_id(title, set(taken)) == expected


def test_ids_are_valid_short_and_usable_in_expressions():
    long = field_id("产品外观检查结果及处理意见记录说明备注补充内容" * 3)
    assert len(long) <= form_kinds.MAX_ID and form_kinds.FIELD_ID.match(long) and not long.endswith("_")
    taken = {long}
    again = field_id("产品外观检查结果及处理意见记录说明备注补充内容" * 3, taken)
    assert again != long and len(again) <= form_kinds.MAX_ID
    symptom = field_id("故障现象", {"verdict"})
    out = yaml_edit.add_field(EMPTY, symptom, type="text", title="故障现象")
    out = yaml_edit.add_field(out, "note", type="text", title="说明", visible_if=f'{symptom} == "漏水"')
    assert symptom == "gu_zhang_xian_xiang" and checked(out).schema["properties"]["note"]["x-visible-if"]


# --------------------------------------------------------------------------- conditions

KINDS = {"verdict": "single", "measured": "number", "replaced": "yesno", "defects": "multi", "note": "textarea",
         "when": "date"}


@pytest.mark.parametrize(("cond", "expr"), [
    (Condition("verdict", "==", "不合格"), 'verdict == "不合格"'),
    (Condition("verdict", "!=", '说"明'), 'verdict != "说\\"明"'),
    (Condition("measured", ">", "10.2"), "measured > 10.2"),
    (Condition("measured", "<=", "3"), "measured <= 3"),
    (Condition("replaced", "yes"), "replaced"),
    (Condition("replaced", "no"), "replaced == false"),
    (Condition("defects", "has", "漏水"), '"漏水" in defects'),
    (Condition("defects", "lacks", "漏水"), '"漏水" not in defects'),
])
def test_picker_choices_compose_and_read_back(cond, expr):
    assert compose_condition(cond, KINDS) == expr
    assert parse_condition(expr, KINDS) == cond


@pytest.mark.parametrize("expr", [
    'verdict == "不合格" and measured > 3',  # two conditions: for the expression box
    "measured > '3'",                       # text against a number
    "unknown == 1",
    "when > '2026-01-01'",                  # dates are not offered by the picker
    "len(defects) > 1",
    "note",
])
def test_expressions_the_picker_cannot_show_are_left_to_the_box(expr):
    assert parse_condition(expr, KINDS) is None


def test_other_spellings_of_yes_and_no_are_read():
    assert parse_condition("replaced == true", KINDS) == Condition("replaced", "yes")
    assert parse_condition("not replaced", KINDS) == Condition("replaced", "no")
    assert parse_condition("replaced != true", KINDS) == Condition("replaced", "no")
    assert parse_condition("verdict == '合格'", KINDS) == Condition("verdict", "==", "合格")


@pytest.mark.parametrize(("cond", "message"), [
    (Condition("nope", "==", "x"), "no field 'nope'"),
    (Condition("verdict", ">", "x"), "fits the field"),
    (Condition("measured", ">", "ten"), "not a number"),
])
def test_bad_picker_choices_say_what_to_fix(cond, message):
    with pytest.raises(form_kinds.ConditionError, match=message):
        compose_condition(cond, KINDS)


def test_composed_conditions_pass_the_forms_checks():
    out = yaml_edit.add_field(EMPTY, "measured", type="number", title="实测值", unit="mm")
    out = yaml_edit.add_field(out, "replaced", type="yesno", title="是否更换")
    out = yaml_edit.add_field(out, "defects", type="multi", title="缺陷", options=["漏水", "异响"])
    kinds = {f.name: f.kind for f in builder_fields(yaml.safe_load(out)["schema"])}
    for i, cond in enumerate([Condition("verdict", "==", "不合格"), Condition("measured", ">", "10.2"),
                              Condition("replaced", "no"), Condition("defects", "has", "漏水")]):
        out = yaml_edit.add_field(out, f"note_{i}", type="text", title="说明",
                                  visible_if=compose_condition(cond, kinds))
    checked(out)


# --------------------------------------------------------------------------- order


def test_moving_a_field_to_a_place_keeps_comments_with_it():
    text = (ROOT / "forms" / "after-sales-inspection-result.yaml").read_text(encoding="utf-8")
    names = list(yaml.safe_load(text)["schema"]["properties"])
    out = yaml_edit.move_field_to(text, names[-1], 0)
    assert list(yaml.safe_load(out)["schema"]["properties"]) == [names[-1], *names[:-1]]
    assert sorted(ln for ln in out.splitlines() if "#" in ln) == sorted(ln for ln in text.splitlines() if "#" in ln)
    assert yaml_edit.move_field_to(out, names[-1], len(names) - 1) == text
    with pytest.raises(EditError):
        yaml_edit.order_fields(text, names[:-1])


def test_columns_are_added_to_a_table_and_fields_to_a_group():
    text = (ROOT / "forms" / "after-sales-inspection-result.yaml").read_text(encoding="utf-8")
    out = yaml_edit.add_columns(text, "items", [{"name": "", "type": "number", "title": "偏差", "unit": "mm"}])
    cols = checked_as(out, "after-sales-inspection-result")["properties"]["items"]["items"]["properties"]
    assert list(cols)[-1] == "pian_cha" and cols["pian_cha"]["x-unit"] == "mm"
    assert "          pian_cha: {type: number, title: 偏差, x-unit: mm}" in out.splitlines()
    assert len(out.splitlines()) == len(text.splitlines()) + 1
    grouped = yaml_edit.add_field(EMPTY, "contact", type="group", title="联系人",
                                  columns=[{"name": "name", "type": "text", "title": "姓名"}])
    grouped = yaml_edit.add_columns(grouped, "contact", [{"name": "phone", "type": "text", "title": "电话"}])
    assert list(checked(grouped).schema["properties"]["contact"]["properties"]) == ["name", "phone"]
    with pytest.raises(EditError, match="not a table or a group"):
        yaml_edit.add_columns(text, "instrument", [{"name": "x", "type": "text", "title": "x"}])
    with pytest.raises(EditError, match="two columns"):
        yaml_edit.add_columns(text, "items", [{"name": "method", "type": "text", "title": "x"}])


def checked_as(text: str, form_id: str) -> dict:
    form, problems = parse_form(yamlsrc.load(text, f"forms/{form_id}.yaml"))
    assert not problems, problems
    return form.schema


@pytest.mark.parametrize("expr", ["sum_of(criteria, 'weight')", "avg_of(criteria, 'score')", "len(criteria)",
                                  "days_between(first_on, last_on)"])
def test_what_the_computed_value_picker_writes_is_a_valid_computation(expr):
    text = (ROOT / "forms" / "supplier-evaluation-form.yaml").read_text(encoding="utf-8")
    text = yaml_edit.add_field(text, "first_on", type="date", title="首次")
    text = yaml_edit.add_field(text, "last_on", type="date", title="末次")
    out = yaml_edit.add_field(text, "picked", type="computed", title="计算", compute=expr)
    assert checked_as(out, "supplier-evaluation-form")["properties"]["picked"]["x-compute"] == expr

