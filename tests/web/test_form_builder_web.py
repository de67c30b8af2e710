"""The form builder through Flask's test client: field kinds by their names in the user's
language, ids from titles, a photo field and a measurement with limits, visibility by picker
(and an expert's expression left intact), moving a field to a place, saving unchanged."""

from __future__ import annotations

import html
import re

import pytest
import yaml

from engine import store
from tests.web.test_web_ui import Browser
from web import create_app

PID = "after-sales-inspection"
FORM = "after-sales-inspection-result"
URL = f"/editor/{PID}/forms/{FORM}"


@pytest.fixture
def app(db_url, tmp_path):
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"), "locale": "zh"}})
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "author", "pw-author", ["editors"], full_name="编写人")
        store.add_user(s, "insp", "pw-insp", ["qa-inspectors"], full_name="检验员")
    yield app
    app.extensions["services"].database.engine.dispose()


def login(app, user):
    b = Browser(app)
    b.login(user)
    return b


def yaml_of(page: str) -> str:
    return html.unescape(page.split('id="form-yaml">', 1)[1].split("</pre>", 1)[0])


def schema_of(b) -> dict:
    return yaml.safe_load(yaml_of(b.get(URL).text))["schema"]


def test_kinds_are_offered_by_their_names_in_the_users_language(app):
    b = login(app, "author")
    page = b.get(URL).text
    select = page.split('id="fb-type"', 1)[1].split("</select>", 1)[0]
    for name in ("文本", "多行文本", "数字（含单位和规格限）", "单选", "多选", "日期", "日期时间", "是/否", "人员", "照片",
                 "附件", "表格", "分组", "计算值"):
        assert f">{name}</option>" in select, name
    row = page.split('data-field="ambient_temperature"', 1)[1].split("</tr>", 1)[0]
    assert '<td data-label="类型" class="kind">数字</td>' in row
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "author_en", "pw-author_en", ["editors"], full_name="Author", locale="en")
    english = login(app, "author_en").get(URL).text
    select = english.split('id="fb-type"', 1)[1].split("</select>", 1)[0]
    assert ">Photo</option>" in select and ">Number (with unit and spec limits)</option>" in select
    assert ">照片</option>" not in select


def test_a_photo_and_a_measurement_with_limits_get_ids_from_their_titles(app):
    b = login(app, "author")
    b.get(URL)
    r = b.post(f"{URL}/fields", {"type": "photo", "title": "现场照片", "name": "", "camera": "1", "max_items": "6",
                                 "vis_mode": "always", "required": "1"})
    assert r.status_code == 302
    r = b.post(f"{URL}/fields", {"type": "number", "title": "环境温度", "unit": "℃", "min": "15", "max": "35",
                                 "range_min": "-40", "vis_mode": "always"})
    assert r.status_code == 302
    page = b.get(URL).text
    assert "现场照片" in page and 'data-field="xian_chang_zhao_pian"' in page
    # 环境温度 is taken by ambient_temperature's title, not its id: the pinyin id is free
    assert 'data-field="huan_jing_wen_du"' in page
    schema = yaml.safe_load(yaml_of(page))["schema"]
    photo = schema["properties"]["xian_chang_zhao_pian"]
    assert photo["x-widget"] == "file" and photo["x-accept"] == ["image/jpeg", "image/png"] and photo["maxItems"] == 6
    assert "xian_chang_zhao_pian" in schema["required"]
    temp = schema["properties"]["huan_jing_wen_du"]
    assert temp["x-limits"] == {"min": 15, "max": 35} and temp["minimum"] == -40 and temp["x-unit"] == "℃"
    # the operator's preview opens the camera for the photo
    preview = page.split('id="form-preview"', 1)[1].split("</section>", 1)[0]
    assert re.search(r'name="f\.xian_chang_zhao_pian:upload"[^>]*capture="environment"', preview)
    # a second field of the same title gets its own id
    b.post(f"{URL}/fields", {"type": "number", "title": "环境温度", "vis_mode": "always"})
    assert "huan_jing_wen_du_2" in schema_of(b)["properties"]
    suggested = b.c.get(f"/editor/{PID}/forms/{FORM}/field-id?title=环境温度").get_json()
    assert suggested == {"id": "huan_jing_wen_du_3"}


def test_visibility_by_picker_and_an_experts_expression_left_intact(app):
    b = login(app, "author")
    b.get(URL)
    r = b.post(f"{URL}/fields", {"type": "textarea", "title": "超差说明", "vis_mode": "picker",
                                 "vis_field": "ambient_temperature", "vis_op": ">", "vis_value": "35"})
    assert r.status_code == 302
    props = schema_of(b)["properties"]
    assert props["chao_cha_shuo_ming"]["x-visible-if"] == "ambient_temperature > 35"
    page = b.get(URL).text
    edit = page.split('data-field-form="chao_cha_shuo_ming"', 1)[1].split("</form>", 1)[0]
    # the picker shows the condition it can read: field, operator, value
    assert re.search(r'<option value="ambient_temperature" selected>', edit)
    assert re.search(r'<option value="&gt;" selected>', edit) and 'value="35"' in edit
    assert re.search(r'name="vis_mode" value="picker"[^>]*checked', edit)
    # an expression the picker cannot show stays as written and is offered in the box
    expert = 'ambient_temperature > 35 and ambient_humidity > 80'
    b.post(f"{URL}/fields/chao_cha_shuo_ming/update", {"title": "超差说明", "vis_mode": "expr", "visible_if": expert})
    page = b.get(URL).text
    edit = page.split('data-field-form="chao_cha_shuo_ming"', 1)[1].split("</form>", 1)[0]
    assert re.search(r'name="vis_mode" value="expr"[^>]*checked', edit) and html.escape(expert) in edit
    # saving that edit form unchanged keeps the expression
    before = yaml_of(page)
    fields = dict(re.findall(r'<input name="(\w+)"[^>]*value="([^"]*)"', edit))
    r = b.post(f"{URL}/fields/chao_cha_shuo_ming/update", {
        "title": "超差说明", "vis_mode": "expr", "visible_if": html.unescape(fields["visible_if"])})
    assert yaml_of(b.get(URL).text) == before
    # back to always: the condition goes
    b.post(f"{URL}/fields/chao_cha_shuo_ming/update", {"title": "超差说明", "vis_mode": "always"})
    assert "x-visible-if" not in schema_of(b)["properties"]["chao_cha_shuo_ming"]
    # a picker choice that makes no condition says what to fix, and nothing is saved
    r = b.post(f"{URL}/fields/chao_cha_shuo_ming/update", {"title": "超差说明", "vis_mode": "picker",
                                                           "vis_field": "ambient_temperature", "vis_op": ">",
                                                           "vis_value": "三十"})
    assert "不是数字" in b.get(r.headers["Location"]).text


def test_every_field_saved_unchanged_from_its_edit_form_keeps_the_file(app):
    b = login(app, "author")
    page = b.get(URL).text
    before = yaml_of(page)
    for name in re.findall(r'data-field-form="(\w+)"', page):
        form = page.split(f'data-field-form="{name}"', 1)[1].split("</form>", 1)[0]
        data = {n: html.unescape(v) for n, v in re.findall(r'<input name="(\w+)"[^>]*value="([^"]*)"', form)}
        data.pop("csrf_token", None)
        if re.search(r'<input type="checkbox" name="required" value="1" checked', form):
            data["required"] = "1"
        mode = re.search(r'name="vis_mode" value="(\w+)"[^>]*checked', form).group(1)
        data["vis_mode"] = mode
        for sel in ("vis_field", "vis_op"):
            m = re.search(rf'name="{sel}".*?<option value="([^"]*)" selected', form, re.S)
            data[sel] = html.unescape(m.group(1)) if m else ""
        r = b.post(f"{URL}/fields/{name}/update", data)
        assert r.status_code == 302
        after = yaml_of(b.get(URL).text)
        assert after == before, name


def test_drag_and_drop_moves_a_field_through_the_field_route(app):
    b = login(app, "author")
    b.get(URL)
    names = list(schema_of(b)["properties"])
    r = b.c.post(f"{URL}/fields/{names[-1]}/move", data={"csrf_token": b.token, "position": "0"},
                 headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.get_json()["ok"]
    assert list(schema_of(b)["properties"]) == [names[-1], *names[:-1]]
    r = b.post(f"{URL}/fields/{names[-1]}/move", {"position": "x"})
    assert r.status_code == 302
    assert "请指明字段移动到的位置" in b.get(r.headers["Location"]).text
    # readers may not move fields
    reader = login(app, "insp")
    assert reader.post(f"{URL}/fields/{names[0]}/move", {"position": "1"}).status_code == 403
    assert reader.c.get(f"{URL}/field-id?title=x").status_code == 403


def test_a_table_and_a_choice_by_kind(app):
    b = login(app, "author")
    b.get(URL)
    b.post(f"{URL}/fields", {"type": "table", "title": "更换部件", "vis_mode": "always",
                             "columns": "part:text:部件\n:number:数量:件\nresult:single:结果:合格/不合格"})
    b.post(f"{URL}/fields", {"type": "multi", "title": "故障现象", "options": "漏水，异响、不启动", "vis_mode": "always"})
    props = schema_of(b)["properties"]
    table = props["geng_huan_bu_jian"]
    assert list(table["items"]["properties"]) == ["part", "shu_liang", "result"]
    assert table["items"]["properties"]["shu_liang"]["x-unit"] == "件"
    assert table["items"]["properties"]["result"]["enum"] == ["合格", "不合格"]
    assert props["gu_zhang_xian_xiang"]["items"]["enum"] == ["漏水", "异响", "不启动"]
    r = b.post(f"{URL}/fields", {"type": "single", "title": "只有一个选项", "options": "是", "vis_mode": "always"})
    assert r.status_code == 422 and "至少需要两个选项" in r.text  # shown with the form as typed


def test_columns_are_added_to_an_existing_table_by_its_edit_form(app):
    b = login(app, "author")
    page = b.get(URL).text
    edit = page.split('data-field-form="items"', 1)[1].split("</form>", 1)[0]
    assert 'name="columns"' in edit
    r = b.post(f"{URL}/fields/items/update", {"title": "检验项目", "required": "1", "vis_mode": "always",
                                               "columns": ":number:偏差:mm"})
    assert r.status_code == 302
    cols = schema_of(b)["properties"]["items"]["items"]["properties"]
    assert list(cols)[-1] == "pian_cha" and cols["pian_cha"] == {"type": "number", "title": "偏差", "x-unit": "mm"}
