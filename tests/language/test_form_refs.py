"""A form refers only to itself: ``$ref`` to a URL, a file or nothing, ``$id`` and foreign
``$schema`` are refused at their line and column, and no validator ever fetches."""

from __future__ import annotations

import http.server
import threading

import pytest

from engine.language import yaml_source as yamlsrc
from engine.language.forms import parse_form
from engine.language.forms.submission import SubmissionValidator

HEAD = "id: t\ntitle: T\nschema:\n  type: object\n"


def _problems(body: str) -> list[tuple[int, int, str]]:
    _form, problems = parse_form(yamlsrc.load(HEAD + body, "forms/t.yaml"))
    return [(p.line, p.col, p.message) for p in problems]


@pytest.mark.parametrize("ref", ["http://127.0.0.1:1/secret.json", "file:///etc/passwd", "other.yaml",
                                 "../forms/x.yaml#/$defs/a"])
def test_a_ref_outside_the_form_is_refused_at_its_value(ref: str) -> None:
    problems = _problems(f"  properties:\n    evil: {{title: E, $ref: '{ref}'}}\n")
    assert len(problems) == 1, problems
    line, col, text = problems[0]
    assert (line, col) == (6, 28)
    assert ref in text and "points outside this form" in text and "#/$defs/NAME" in text


def test_a_dynamic_ref_outside_the_form_is_refused() -> None:
    [(_l, _c, text)] = _problems("  properties:\n    evil: {$dynamicRef: 'https://x.example/s'}\n")
    assert "`$dynamicRef: https://x.example/s` points outside this form" in text


def test_a_local_ref_to_nothing_is_refused_with_the_close_name() -> None:
    problems = _problems("  $defs:\n    reading: {type: number}\n"
                         "  properties:\n    a: {$ref: '#/$defs/readin'}\n    b: {$ref: '#nowhere'}\n")
    assert [(p[0], p[1]) for p in problems] == [(8, 15), (9, 15)]
    assert "refers to no schema of this form" in problems[0][2] and "#/$defs/reading" in problems[0][2]
    assert "#nowhere" in problems[1][2]


def test_local_refs_that_resolve_are_accepted() -> None:
    body = ("  $defs:\n    reading: {type: number, minimum: 0}\n    named: {$anchor: mm, type: number}\n"
            "  properties:\n    a: {$ref: '#/$defs/reading'}\n    b: {$ref: '#mm'}\n"
            "    c: {type: array, items: {$ref: '#/properties/a'}}\n")
    assert _problems(body) == []


@pytest.mark.parametrize("defs", ["    a: {$ref: '#/$defs/a'}\n",
                                  "    a: {allOf: [{$ref: '#/$defs/b'}]}\n    b: {$ref: '#/$defs/a'}\n"])
def test_a_ref_loop_without_a_value_between_is_refused(defs: str) -> None:
    problems = _problems("  $defs:\n" + defs + "  properties:\n    x: {$ref: '#/$defs/a'}\n")
    assert problems and all("leads back to itself" in p[2] for p in problems), problems


def test_a_recursive_schema_below_a_field_is_accepted() -> None:
    body = ("  $defs:\n    node: {type: object, properties: {name: {type: string}, "
            "children: {type: array, items: {$ref: '#/$defs/node'}}}}\n"
            "  properties:\n    tree: {$ref: '#/$defs/node'}\n")
    assert _problems(body) == []


def test_id_and_foreign_schema_are_refused() -> None:
    problems = _problems("  $schema: 'http://json-schema.org/draft-07/schema#'\n"
                         "  properties:\n    a: {type: string, $id: 'http://x.example/a'}\n")
    assert [(p[0], p[1]) for p in problems] == [(5, 3), (7, 23)]
    assert "`$schema` may only name JSON Schema 2020-12" in problems[0][2]
    assert "`$id` is not allowed in a form" in problems[1][2]
    assert _problems("  $schema: 'https://json-schema.org/draft/2020-12/schema'\n"
                     "  properties:\n    a: {type: string}\n") == []


def test_the_zh_message_names_the_ref_and_the_fix() -> None:
    from engine import i18n

    i18n.set_locale("zh")  # the autouse fixture puts the default back
    [(_l, _c, text)] = _problems("  properties:\n    evil: {$ref: 'http://x.example/a'}\n")
    assert "http://x.example/a" in text and "$defs" in text and "表单" in text


def test_a_stored_validator_never_fetches_and_says_why() -> None:
    hits: list[str] = []

    class Spy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"type": "string"}')

        def log_message(self, *a: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Spy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/internal.json"
        for ref in (url, "#/$defs/nope", "file:///etc/passwd"):
            v = SubmissionValidator({"type": "object", "properties": {"e": {"$ref": ref}}}, None, {}, {})
            errors, _data = v.check({"e": 3}, "en")
            shown = "#/$defs/nope" if ref.startswith("#") else ref
            assert errors == [{"field": "", "message": (
                f"This form cannot be checked: it refers to {shown}, which is not part of it; "
                "ask the procedure's author to correct the form and publish it again")}]
        assert hits == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_stored_version_with_such_a_ref_is_refused_where_it_is_compiled() -> None:
    from engine.errors import DefinitionInvalid
    from engine.language.procedure import compile_stored

    form = HEAD + "  properties:\n    evil: {$ref: 'http://127.0.0.1:1/x.json'}\n"
    with pytest.raises(DefinitionInvalid) as caught:
        compile_stored("id: p\ntitle: P\n", "procedures/p.yaml", {"t": form})
    assert caught.value.problems[0].file == "t.yaml" and caught.value.problems[0].line == 6
    assert "points outside this form" in caught.value.problems[0].message
