"""The procedure editor against hostile or careless input: every refusal is a message at its
place (never a 500), nothing typed is lost, and nothing outside the form is ever fetched."""

from __future__ import annotations

import html
import http.server
import re
import threading

import pytest

from tests.web.test_web_editor import PID, app, login  # noqa: F401  (fixture)

FORM = "after-sales-inspection-result"


def _text(b, file="procedure"):
    page = b.get(f"/editor/{PID}/text?file={file}").text
    return html.unescape(page.split('id="yaml"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0])


def _validate(b, file, text):
    return b.c.post(f"/editor/{PID}/validate", json={"file": file, "text": text},
                    headers={"X-CSRF-Token": b.token, "Accept": "application/json"})


@pytest.fixture
def production(app):  # noqa: F811
    app.config["PROPAGATE_EXCEPTIONS"] = False  # what production does: an error is a 500 page
    return app


# A form field's $ref ----------------------------------------------------------------------
def test_form_ref_to_a_url_is_refused_and_never_fetched(production):
    hits = []

    class Spy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"type": "string"}')

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Spy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        b = login(production, "author")
        url = f"http://127.0.0.1:{server.server_port}/internal/secret.json"
        form = _text(b, FORM).replace("  properties:\n", f"  properties:\n    evil: {{title: E, $ref: '{url}'}}\n", 1)
        r = b.post(f"/editor/{PID}/text", {"file": FORM, "text": form})
        assert r.status_code == 422
        assert "points outside this form" in html.unescape(r.text) and url in html.unescape(r.text)
        assert "evil: {title: E" in html.unescape(r.text)  # the typed text is kept
        answers = re.search(r'<textarea name="answers"[^>]*>(.*?)</textarea>',
                            b.get(f"/editor/{PID}/try").text, re.S).group(1)
        assert b.post(f"/editor/{PID}/try", {"answers": html.unescape(answers)}).status_code == 200
        assert hits == []
    finally:
        server.shutdown()
        server.server_close()


def test_form_ref_to_nowhere_is_refused(app):  # noqa: F811
    b = login(app, "author")
    form = _text(b, FORM).replace("  properties:\n", "  properties:\n    evil: {title: E, $ref: '#/$defs/nope'}\n", 1)
    body = _validate(b, FORM, form).get_json()
    assert body["ok"] is False
    assert any("#/$defs/nope" in p["message"] for p in body["problems"]), body


# A self-referencing YAML alias ------------------------------------------------------------
@pytest.mark.parametrize("tail", ["x_extra: &a [*a]\n", "x_extra: &a {k: *a}\n"])
def test_recursive_alias_is_a_problem_at_its_line_not_a_500(production, tail):
    b = login(production, "author")
    text = _text(b) + tail
    r = _validate(b, "procedure", text)
    assert r.status_code == 200
    body = r.get_json()
    assert body["ok"] is False
    assert any("its own anchor &a" in p["message"] for p in body["problems"]), body
    r = b.post(f"/editor/{PID}/text", {"file": "procedure", "text": text})
    assert r.status_code == 422 and "x_extra: &amp;a" in r.text  # the typed text is kept
    assert "its own anchor" in html.unescape(r.text)
    b.get("/editor")
    r = b.post("/editor/import", {"text": text})
    assert r.status_code == 302
    assert "its own anchor" in html.unescape(b.get(r.headers["Location"]).text)


# Try it: answers and run scripts of the wrong shape ---------------------------------------
@pytest.mark.parametrize(("answers", "key"), [("start: 3\n", "start"),
                                              ("start: {user: author, data: [1]}\n", "start.data"),
                                              ("start: {user: author}\nsteps: 5\n", "steps")])
def test_try_it_answers_of_the_wrong_shape_get_a_message(production, answers, key):
    b = login(production, "author")
    b.get(f"/editor/{PID}/try")
    r = b.post(f"/editor/{PID}/try", {"answers": answers})
    assert r.status_code == 422
    page = html.unescape(r.text)
    assert f"answers: {key} must be" in page
    assert answers.strip() in page  # the script typed is kept


@pytest.mark.parametrize("script", ["start: 3\n", "steps: 5\n", "start: {user: author}\nsteps: [[1]]\n"])
def test_try_it_click_with_a_malformed_run_gets_a_message(production, script):
    b = login(production, "author")
    b.get(f"/editor/{PID}/try")
    r = b.post(f"/editor/{PID}/try/click", {"do": "undo", "script": script})
    assert r.status_code == 422
    assert "must be a" in html.unescape(r.text)


# A refused "Add step", "Change where a step goes" or "Add field" keeps what was typed --------
def test_refused_add_step_keeps_what_was_typed(app):  # noqa: F811
    b = login(app, "author")
    b.get(f"/editor/{PID}/steps")
    r = b.post(f"/editor/{PID}/steps", {"id": "double_check", "title": "复核检验", "type": "approval",
                                        "role": "inspector", "form": FORM, "within": "3 days", "after": "report",
                                        "condition": 'inspect.verdict == "合格"'})
    assert r.status_code == 422
    page = html.unescape(r.text)
    problems = page.split('id="add-step-problems"', 1)[1].split("</div>", 1)[0]
    assert "bad duration" in problems and "3 days" in problems
    form = page.split('id="add-step"', 1)[1].split("</form>", 1)[0]
    for typed in ('value="double_check"', 'value="复核检验"', 'value="3 days"',
                  'value="inspect.verdict == "合格""', '<option value="approval" selected>',
                  '<option value="inspector" selected>', f'<option value="{FORM}" selected>',
                  '<option value="report" selected>'):
        assert typed in form, typed
    assert "bad duration" not in b.get(f"/editor/{PID}/steps").text  # said once, not flashed again


def test_refused_set_next_keeps_what_was_chosen(app):  # noqa: F811
    b = login(app, "author")
    b.get(f"/editor/{PID}/steps")
    r = b.post(f"/editor/{PID}/steps/next", {"step": "inspect", "next": "report", "condition": "verdict ==",
                                             "else": "review"})
    assert r.status_code == 422
    page = html.unescape(r.text)
    assert 'id="set-next-problems"' in page
    form = page.split('id="set-next"', 1)[1].split("</form>", 1)[0]
    assert 'value="verdict =="' in form and '<option value="inspect" selected>' in form
    assert '<option value="review" selected>' in form


def test_refused_add_field_keeps_what_was_typed(app):  # noqa: F811
    b = login(app, "author")
    b.get(f"/editor/{PID}/forms/{FORM}")
    cols = "item:string:项目\nqty:number:数量:件\nresult:single:结果:合格/不合格\nbad line"
    r = b.post(f"/editor/{PID}/forms/{FORM}/fields", {"name": "checks", "title": "检查表", "type": "table",
                                                     "columns": cols, "required": "1"})
    assert r.status_code == 422
    page = html.unescape(r.text)
    problems = page.split('id="add-field-problems"', 1)[1].split("</div>", 1)[0]
    assert "column line 4 'bad line'" in problems
    form = page.split('id="add-field"', 1)[1].split("</form>", 1)[0]
    for typed in ('value="检查表"', 'value="checks"', cols, '<option value="table" selected>',
                  'id="fb-required" checked'):
        assert typed in form, typed


def test_add_field_refused_by_the_check_keeps_what_was_typed(app):  # noqa: F811
    b = login(app, "author")
    b.get(f"/editor/{PID}/forms/{FORM}")
    r = b.post(f"/editor/{PID}/forms/{FORM}/fields", {"title": "单价", "name": "price", "type": "number",
                                                     "min": "10", "max": "5", "unit": "元"})
    assert r.status_code == 422, r.status_code
    page = html.unescape(r.text)
    assert 'id="add-field-problems"' in page
    form = page.split('id="add-field"', 1)[1].split("</form>", 1)[0]
    assert 'value="单价"' in form and 'value="元"' in form and 'value="10"' in form and 'value="5"' in form


# Full-width quotes in a condition -----------------------------------------------------------
def test_fullwidth_quotes_in_a_condition_are_named_with_the_fix(app):  # noqa: F811
    b = login(app, "author")
    text = _text(b).replace('inspect.verdict == "合格"', "inspect.verdict == “合格”", 1)
    body = _validate(b, "procedure", text).get_json()
    messages = [p["message"] for p in body["problems"]]
    assert not [m for m in messages if "cannot be reached" in m], messages
    assert [m for m in messages if "full-width quote" in m and 'write inspect.verdict == "合格"' in m], messages
