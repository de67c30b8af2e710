"""Forms: checking form files, validating submissions, visibility, specification limits."""

from __future__ import annotations

import copy
import pathlib
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.language import yaml_source as yamlsrc
from engine.language.forms import FieldInfo, Form, load_form, parse_form

DATA = pathlib.Path(__file__).parents[1] / "data" / "forms"
VALID = ("inspection-result", "service-visit")
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")


def _broken_fixtures() -> list[pathlib.Path]:
    return sorted(p for p in DATA.glob("*.yaml") if p.stem not in VALID)


def _form(name: str) -> Form:
    form, problems = load_form(str(DATA / f"{name}.yaml"))
    assert problems == []
    assert form is not None
    return form


@pytest.fixture(scope="module")
def inspection() -> Form:
    return _form("inspection-result")


@pytest.fixture(scope="module")
def visit() -> Form:
    return _form("service-visit")


def _row(**kw: object) -> dict:
    return {"item": "外观", "measured": 10.0, "result": "合格", **kw}


def _inspection_ok(**kw: object) -> dict:
    return {"items": [_row()], "verdict": "合格", **kw}


def _visit_ok(**kw: object) -> dict:
    return {
        "visited_at": "2026-03-01T09:30:00+08:00",
        "engineer": "li.wei",
        "duration": 2,
        "parts_replaced": False,
        **kw,
    }


# --------------------------------------------------------------------------- form files


@pytest.mark.parametrize("path", _broken_fixtures(), ids=lambda p: p.stem)
def test_broken_form_reports_line_col_and_fix(path: pathlib.Path) -> None:
    expected = [
        (int(m[1]), int(m[2]), m[3])
        for line in path.read_text(encoding="utf-8").splitlines()
        if (m := EXPECT.match(line))
    ]
    assert expected, f"{path.name} has no '# expect: LINE:COL: message' line"
    _form, problems = load_form(str(path))
    found = [(p.line, p.col, p.message) for p in problems]
    for line, col, fragment in expected:
        assert any((pl, pc) == (line, col) and fragment in pm for pl, pc, pm in found), (
            f"expected {line}:{col}: {fragment!r}, got {found}"
        )
    for pl, pc, pm in found:  # and nothing else
        assert any(
            (pl, pc) == (line, col) and fragment in pm for line, col, fragment in expected
        ), f"unexpected problem {pl}:{pc}: {pm}"
    assert all(p.file == str(path) for p in problems)


@pytest.mark.parametrize("name", VALID)
def test_valid_forms_load_without_problems(name: str) -> None:
    form = _form(name)
    assert form.id == name
    assert form.source_file.endswith(f"{name}.yaml")
    assert form.schema["type"] == "object"


def test_form_attributes(inspection: Form) -> None:
    assert inspection.title == "检验结果"
    assert inspection.description == "售后检验的检验项目与结论。"
    assert "defect" in inspection.schema["properties"]
    # the author's schema is kept as written (hints included)
    assert inspection.schema["properties"]["defect"]["x-visible-if"] == 'verdict == "不合格"'


def test_form_is_none_when_unusable() -> None:
    form, problems = parse_form(
        yamlsrc.load("id: x\ntitle: y\nschema: {type: object}\n", "forms/x.yaml")
    )
    assert form is None
    assert problems


def test_form_from_text_without_file_name_skips_the_name_check() -> None:
    text = "id: anything\ntitle: T\nschema:\n  type: object\n  properties:\n    a: {type: string}\n"
    form, problems = parse_form(yamlsrc.load(text))
    assert problems == []
    assert form is not None and form.id == "anything"


def test_form_with_minor_problems_is_still_built() -> None:
    form, problems = load_form(str(DATA / "unknown-hint.yaml"))
    assert form is not None
    assert len(problems) == 1


def test_metaschema_errors_are_located_in_the_yaml() -> None:
    text = (
        "id: t\ntitle: T\nschema:\n  type: object\n  properties:\n"
        "    a:\n      type: string\n      minLength: -1\n"
    )
    _form, problems = parse_form(yamlsrc.load(text, "forms/t.yaml"))
    assert [(p.line, p.col) for p in problems] == [(8, 18)]
    assert "`minLength` must be at least 0" in problems[0].message


# --------------------------------------------------------------------------- fields


def test_field_paths(inspection: Form) -> None:
    assert list(inspection.fields) == [
        "items",
        "verdict",
        "defect",
        "inspected_on",
        "temperature",
        "contact",
        "contact.name",
        "contact.phone",
        "contact.email",
        "photos",
    ]
    assert "items.measured" not in inspection.fields


def test_field_info(inspection: Form) -> None:
    f = inspection.fields
    assert f["items"] == FieldInfo(
        path="items", type="array", title="检验项目", widget="table", required=True
    )
    assert f["verdict"].enum == ["合格", "不合格"]
    assert f["verdict"].widget == "radio"
    assert f["defect"].visible_if == 'verdict == "不合格"'
    assert f["defect"].required is True  # required while visible
    assert f["defect"].widget == "textarea"
    assert f["inspected_on"].widget == "date"
    assert f["temperature"].unit == "℃"
    assert f["temperature"].limits == (15, 35)
    assert f["contact"].widget == "group"
    assert f["contact.phone"].sensitive is True
    assert f["contact.phone"].required is False
    assert f["photos"].widget == "file"


NESTED_SENSITIVE = """\
id: t
title: T
schema:
  type: object
  properties:
    phone: {type: string, x-sensitive: true}
    contacts:
      type: array
      x-widget: table
      items:
        type: object
        properties:
          person: {type: string}
          phone: {type: string, x-sensitive: true}
          home: {type: object, x-sensitive: true, properties: {city: {type: string, x-sensitive: true}}}
    site:
      type: object
      properties:
        street: {type: string}
        mobile: {type: string, x-sensitive: true}
    tags: {type: array, items: {type: string, x-sensitive: true}}
"""


def test_sensitive_values_below_the_top_are_recorded_per_field() -> None:
    form, problems = parse_form(yamlsrc.load(NESTED_SENSITIVE, "forms/t.yaml"))
    assert problems == [] and form is not None
    f = form.fields
    assert f["contacts"].sensitive is False
    assert f["contacts"].sensitive_within == ("contacts[].phone", "contacts[].home")
    assert f["site"].sensitive_within == ("site.mobile",) and f["site.mobile"].sensitive is True
    assert f["tags"].sensitive_within == ("tags[]",)
    assert f["phone"].sensitive is True and f["phone"].sensitive_within == ()
    assert form.sensitive_paths == {"phone", "contacts[].phone", "contacts[].home", "site.mobile", "tags[]"}


def test_x_sensitive_must_be_a_boolean_at_any_depth() -> None:
    text = NESTED_SENSITIVE.replace("phone: {type: string, x-sensitive: true}\n          home",
                                    "phone: {type: string, x-sensitive: yes please}\n          home")
    _form, problems = parse_form(yamlsrc.load(text, "forms/t.yaml"))
    assert [p.message for p in problems] == ["x-sensitive must be true or false"]
    assert problems[0].line == 14  # the table column's marker


@pytest.mark.parametrize(
    ("path", "widget"),
    [
        ("visited_at", "datetime"),
        ("start_time", "time"),
        ("engineer", "user"),
        ("duration", "number"),
        ("fault", "select"),  # more than 4 options
        ("parts_replaced", "yesno"),
        ("parts", "table"),
        ("receipts", "file"),
        ("customer_email", "text"),
        ("customer_signature", "signature"),
    ],
)
def test_default_and_explicit_widgets(visit: Form, path: str, widget: str) -> None:
    assert visit.fields[path].widget == widget


# --------------------------------------------------------------------------- validation


def test_valid_submission(inspection: Form, visit: Form) -> None:
    assert inspection.validate(_inspection_ok()) == []
    assert visit.validate(_visit_ok()) == []


ERROR_CASES = [
    # (id, data, field, zh, en)
    ("required", {"items": [_row()]}, "verdict", "必填项", "This field is required"),
    (
        "enum",
        _inspection_ok(verdict="OK"),
        "verdict",
        "请从以下选项中选择：合格、不合格",
        "Choose one of: 合格, 不合格",
    ),
    ("type", _inspection_ok(temperature="warm"), "temperature", "应填写数字", "Enter a number"),
    # NaN and infinity: floats, which a bare "number" (and a minimum, which compares) lets by.
    ("NaN", _inspection_ok(temperature=float("nan")), "temperature", "请输入有限的数值（NaN 和无穷大不是记录能保存的数）",
     "Enter a finite number (NaN and infinity are not numbers a record can hold)"),
    ("infinity in a row", _inspection_ok(items=[_row(measured=float("inf"))]), "items.0.measured",
     "请输入有限的数值（NaN 和无穷大不是记录能保存的数）", "Enter a finite number"),
    ("minus infinity", _inspection_ok(temperature=float("-inf")), "temperature",
     "请输入有限的数值（NaN 和无穷大不是记录能保存的数）", "Enter a finite number"),
    (
        "minimum",
        _inspection_ok(items=[_row(measured=-1)]),
        "items.0.measured",
        "应不小于 0",
        "Must be at least 0",
    ),
    (
        "date",
        _inspection_ok(inspected_on="2026/03/01"),
        "inspected_on",
        "日期格式应为 YYYY-MM-DD",
        "Write the date as YYYY-MM-DD",
    ),
    (
        "impossible date",
        _inspection_ok(inspected_on="2026-02-30"),
        "inspected_on",
        "日期格式应为 YYYY-MM-DD",
        "Write the date as YYYY-MM-DD",
    ),
    ("minItems", _inspection_ok(items=[]), "items", "至少填写 1 行", "Fill in at least 1 row"),
    ("unknown field", _inspection_ok(colour="red"), "colour", "未知字段", "unknown field"),
    (
        "unknown field in a group",
        _inspection_ok(contact={"name": "王", "fax": "1"}),
        "contact.fax",
        "未知字段",
        "unknown field",
    ),
    (
        "row",
        _inspection_ok(items=[_row(), _row(result="坏")]),
        "items.1.result",
        "请从以下选项中选择：合格、不合格",
        "Choose one of: 合格, 不合格",
    ),
    (
        "required in a row",
        _inspection_ok(items=[_row(), {"item": "外观"}]),
        "items.1.result",
        "必填项",
        "This field is required",
    ),
    (
        "email",
        _inspection_ok(contact={"email": "wang"}),
        "contact.email",
        "请填写有效的电子邮件地址",
        "Enter a valid e-mail address",
    ),
]


@pytest.mark.parametrize(
    ("data", "field", "zh", "en"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_validation_messages(inspection: Form, data: dict, field: str, zh: str, en: str) -> None:
    assert inspection.validate(data) == [{"field": field, "message": zh}]
    errors = inspection.validate(data, "en")
    assert [e["field"] for e in errors] == [field]
    assert en in errors[0]["message"]


VISIT_CASES = [
    ("maximum", {"duration": 25}, "duration", "应不大于 24", "Must be at most 24"),
    ("integer", {"duration": 1.5}, "duration", "应填写整数", "Enter a whole number"),
    ("boolean", {"parts_replaced": 0}, "parts_replaced", "应选择是或否", "Choose yes or no"),
    (
        "date-time",
        {"visited_at": "01.03.2026 09:30"},
        "visited_at",
        "日期时间格式应为 YYYY-MM-DD HH:MM",
        "Write the date and time as YYYY-MM-DD HH:MM",
    ),
    (
        "time",
        {"start_time": "24:10"},
        "start_time",
        "时间格式应为 HH:MM",
        "Write the time as HH:MM",
    ),
    (
        "maxItems of files",
        {"receipts": ["a", "b", "c", "d"]},
        "receipts",
        "最多上传 3 个文件",
        "Upload at most 3 files",
    ),
    (
        "pattern in a row",
        {
            "parts_replaced": True,
            "old_parts_returned": True,
            "parts": [{"part_no": "x", "quantity": 1}],
        },
        "parts.0.part_no",
        "格式不正确",
        "The format is not valid",
    ),
]


@pytest.mark.parametrize(
    ("extra", "field", "zh", "en"), [c[1:] for c in VISIT_CASES], ids=[c[0] for c in VISIT_CASES]
)
def test_more_validation_messages(visit: Form, extra: dict, field: str, zh: str, en: str) -> None:
    data = _visit_ok(**extra)
    assert visit.validate(data) == [{"field": field, "message": zh}]
    assert visit.validate(data, "en") == [{"field": field, "message": en}]


def test_every_problem_is_reported_in_form_order(inspection: Form) -> None:
    data = {
        "items": [_row(measured="x"), {"result": "坏"}],
        "inspected_on": "tomorrow",
        "zzz": 1,
    }
    assert inspection.validate(data) == [
        {"field": "items.0.measured", "message": "应填写数字"},
        {"field": "items.1.item", "message": "必填项"},
        {"field": "items.1.result", "message": "请从以下选项中选择：合格、不合格"},
        {"field": "verdict", "message": "必填项"},
        {"field": "inspected_on", "message": "日期格式应为 YYYY-MM-DD"},
        {"field": "zzz", "message": "未知字段"},
    ]


def test_data_that_is_not_a_mapping(inspection: Form) -> None:
    assert inspection.validate(["x"]) == [{"field": "", "message": "提交的数据应为一组字段"}]  # type: ignore[arg-type]


def test_unknown_locale_falls_back_to_chinese(inspection: Form) -> None:
    assert inspection.validate({"items": [_row()]}, "fr") == [
        {"field": "verdict", "message": "必填项"}
    ]


# --------------------------------------------------------------------------- visibility


def test_hidden_field_is_not_required_and_is_dropped(inspection: Form) -> None:
    data = _inspection_ok(defect="划痕")
    assert inspection.validate(data) == []
    assert inspection.clean(data) == _inspection_ok()
    assert data["defect"] == "划痕"  # the caller's data is not modified


def test_hidden_field_is_not_validated(inspection: Form) -> None:
    assert inspection.validate(_inspection_ok(defect=42)) == []


def test_visible_field_is_required(inspection: Form) -> None:
    data = _inspection_ok(verdict="不合格")
    assert inspection.validate(data) == [{"field": "defect", "message": "必填项"}]
    assert inspection.validate(data, "en") == [
        {"field": "defect", "message": "This field is required"}
    ]
    data["defect"] = "外壳划痕 2 处"
    assert inspection.validate(data) == []
    assert inspection.clean(data) == data


def test_visibility_inside_table_rows_uses_the_row(inspection: Form) -> None:
    data = _inspection_ok(items=[_row(note="a"), _row(result="不合格", note="b")])
    assert inspection.clean(data)["items"] == [_row(), _row(result="不合格", note="b")]
    assert inspection.validate(data) == []


def test_hidden_whole_table_and_chained_visibility(visit: Form) -> None:
    data = _visit_ok(parts=[{"part_no": "bad"}], old_parts_returned=False, return_note="丢失")
    # parts_replaced is false: parts and old_parts_returned are hidden, and return_note,
    # which depends on old_parts_returned, is hidden in turn.
    assert visit.clean(data) == _visit_ok()
    assert visit.validate(data) == []


def test_visible_table_is_required_and_checked(visit: Form) -> None:
    data = _visit_ok(parts_replaced=True, old_parts_returned=False)
    assert visit.validate(data) == [{"field": "parts", "message": "必填项"}]
    data["parts"] = []
    assert visit.validate(data, "en") == [{"field": "parts", "message": "Fill in at least 1 row"}]
    data["parts"] = [{"part_no": "AB-1234", "quantity": 2}]
    data["return_note"] = "客户留存"
    assert visit.validate(data) == []
    assert visit.clean(data) == data


# --------------------------------------------------------------------------- limits


def test_out_of_limits_flags_rows_and_fields(inspection: Form) -> None:
    data = _inspection_ok(
        items=[_row(measured=10.0), _row(measured=10.5), _row(measured=9.7)],
        temperature=12,
    )
    assert inspection.validate(data) == []  # flags, not errors
    assert inspection.out_of_limits(data) == [
        {
            "field": "items.1.measured",
            "message": "高于规格上限 10.2 mm",
            "value": 10.5,
            "min": 9.8,
            "max": 10.2,
        },
        {
            "field": "items.2.measured",
            "message": "低于规格下限 9.8 mm",
            "value": 9.7,
            "min": 9.8,
            "max": 10.2,
        },
        {"field": "temperature", "message": "低于规格下限 15 ℃", "value": 12, "min": 15, "max": 35},
    ]
    en = inspection.out_of_limits(data, "en")
    assert en[0]["message"] == "Above the upper limit 10.2 mm"
    assert en[2]["message"] == "Below the lower limit 15 ℃"


def test_within_limits_and_missing_values_are_not_flagged(inspection: Form) -> None:
    assert (
        inspection.out_of_limits(_inspection_ok(items=[_row(measured=9.8), {"item": "外观"}])) == []
    )


# --------------------------------------------------------------------------- fast path


def test_fast_path_is_used_for_common_schemas(inspection: Form, visit: Form) -> None:
    assert inspection._submissions.quick is not None
    assert visit._submissions.quick is not None


_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 30)
    | st.floats(-1, 30, allow_nan=False)
    | st.sampled_from(
        ["", "合格", "不合格", "外观", "2026-01-02", "2026-13-01", "09:30", "a@b.cn", "AB-1234"]
    ),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["item", "measured", "result", "note", "x"]), children, max_size=4
        )
    ),
    max_leaves=8,
)
_inspection_data = st.fixed_dictionaries(
    {},
    optional={
        "items": st.lists(
            st.fixed_dictionaries(
                {},
                optional={k: _values for k in ("item", "measured", "result", "note", "x")},
            ),
            max_size=3,
        )
        | _values,
        "verdict": _values,
        "defect": _values,
        "inspected_on": _values,
        "temperature": _values,
        "contact": st.fixed_dictionaries({}, optional={"name": _values, "email": _values})
        | _values,
        "photos": _values,
        "other": _values,
    },
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_inspection_data)
def test_fast_path_agrees_with_jsonschema(inspection: Form, data: dict) -> None:
    cleaned = inspection.clean(copy.deepcopy(data))
    quick = inspection._submissions.quick
    assert quick is not None
    if quick(cleaned):
        assert list(inspection._submissions.validator.iter_errors(cleaned)) == []
    # and validate() reports errors exactly when there are some
    full = list(inspection._submissions.validator.iter_errors(cleaned))
    missing = cleaned.get("verdict") == "不合格" and "defect" not in cleaned
    assert (inspection.validate(data) == []) == (not full and not missing)


def test_engine_forms_is_pure() -> None:
    package = pathlib.Path(__file__).parents[2] / "engine" / "language" / "forms"
    modules = sorted(package.glob("*.py"))
    assert len(modules) > 1  # the package, not a stray forms.py
    for module in modules:
        source = module.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import) (flask|sqlalchemy)", source, re.M), module.name


UNDECIDABLE = """
id: undecidable
title: 条件无法判断
schema:
  type: object
  properties:
    measured: {type: number, title: 实测值}
    reason: {type: string, title: 超差原因, x-visible-if: "measured > 3"}
  required: [reason]
"""


def test_visibility_that_cannot_be_evaluated_keeps_what_the_operator_typed() -> None:
    form, problems = parse_form(yamlsrc.load(UNDECIDABLE, "undecidable.yaml"))
    assert problems == [] and form is not None
    # Nothing measured: "none > 3" cannot be evaluated. The reason typed is kept, not
    # silently dropped, and it is not demanded either.
    typed = {"reason": "探头松动"}
    assert form.clean(typed) == typed
    assert form.validate(typed, "en") == []
    assert form.validate({}, "en") == []
    # Decidable again: shown and required above 3, hidden (and dropped) at or below.
    assert [e["field"] for e in form.validate({"measured": 5}, "en")] == ["reason"]
    assert form.clean({"measured": 1, "reason": "x"}) == {"measured": 1}


def test_check_is_validate_and_clean_in_one_pass() -> None:
    """The runtime's one call per submission answers what ``validate`` and ``clean`` do."""
    form, problems = parse_form(yamlsrc.load(UNDECIDABLE, "undecidable.yaml"))
    assert problems == [] and form is not None
    for data in ({"reason": "探头松动"}, {}, {"measured": 5}, {"measured": 1, "reason": "x"},
                 {"measured": 5, "reason": "x"}, {"measured": "five"}):
        assert form.check(data, "en") == (form.validate(data, "en"), form.clean(data)), data
    assert form.check({"measured": 1, "reason": "x"}, "en") == ([], {"measured": 1})
