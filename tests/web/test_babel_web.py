"""Pages speak through Flask-Babel: its locale is the request's (the user's choice), its time
zone the display zone, and it reads the same compiled catalog as the engine, so a page and an
engine message on it are in one language."""

from __future__ import annotations

import flask_babel
from flask import g

from engine import i18n
from tests.web.test_web_ui import Browser, app  # noqa: F401  (the app fixture)
from web import i18n as web_i18n


def test_flask_babel_follows_the_request_locale_and_zone(app):  # noqa: F811
    with app.test_request_context("/"):
        app.preprocess_request()
        assert g.locale == "zh"
        assert str(flask_babel.get_locale()) == "zh"
        assert flask_babel.get_timezone() == web_i18n.display_zone()
        assert web_i18n.display_zone().key == app.config["WF"].timezone.key
        assert web_i18n.gettext("Inbox") == "待办" == i18n.gettext("Inbox")  # the engine: same catalog
        web_i18n.use("en")  # the user switches within the request
        assert str(flask_babel.get_locale()) == "en" == g.locale
        assert web_i18n.gettext("Inbox") == "Inbox" == i18n.gettext("Inbox")
        assert web_i18n.gettext("{n} unread", n=3) == "3 unread"
        assert web_i18n.gettext("{n} unread", "zh", n=3) == "3 条未读"


def test_a_page_in_each_language(app):  # noqa: F811
    b = Browser(app)
    b.login("insp")
    page = b.get("/").text
    assert "待办" in page and ">Inbox<" not in page
    b.post("/locale/en", {"next": "/"})
    page = b.get("/").text
    assert "Inbox" in page and "待办" not in page
    # the error page of the same request in English, then in Chinese
    r = b.get("/no-such-page")
    b.post("/locale/zh", {"next": "/"})
    r2 = b.get("/no-such-page")
    assert r.status_code == r2.status_code == 404
    assert "Page not found" in r.text and "页面不存在" not in r.text
    assert "页面不存在" in r2.text and "Page not found" not in r2.text
