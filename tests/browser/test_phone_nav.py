"""The header's navigation on a phone (390x844, real Chromium, Chinese and English): every
item is on screen, none hidden to the right in a box that scrolls sideways without showing it,
and each takes a tap, on every page it leads to. Screenshots: tests/artifacts/reach-nav-*.png.
The helpers here serve the other phone tests of this kind too."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from engine import store
from tests.browser.conftest import ARTIFACTS, login

W, H = 390, 844
PASSWORD = "s3cret-pw-reach"
ASI = "after-sales-inspection"
LANGS = ["zh", "en"]


def _phone(browser, base: str, user: str, lang: str, password: str = PASSWORD):
    """A page at 390x844 signed in as ``user``, in Chinese or (``lang="en"``) in English."""
    page = login(browser, base, user, password, width=W, height=H)
    if lang == "en":
        page.click("#switch-locale")
        page.wait_for_selector("html[lang=en]")
    return page


def _shot(page, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=str(ARTIFACTS / f"reach-{name}.png"), full_page=full_page)


def _no_sideways(page, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= W, f"{what}: the page is {width} px wide at a {W} px phone"


# Where an element is drawn, and whether a tap on its middle reaches it (not something over
# it, nor nothing because a box scrolled it out of sight).
TAPPABLE = """el => {
  const r = el.getBoundingClientRect();
  const x = r.left + r.width / 2, y = r.top + r.height / 2;
  const hit = document.elementFromPoint(x, y);
  return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,
          hit: !!hit && (hit === el || el.contains(hit))};
}"""


def _tappable(page, locator, what: str) -> None:
    box = locator.evaluate(TAPPABLE)
    assert box["left"] >= 0 and box["right"] <= W, f"{what} spans x={box['left']:.0f}..{box['right']:.0f}"
    # (-1: less than a pixel above the top is rounding, not hidden)
    assert box["top"] >= -1 and box["bottom"] <= H, f"{what} is at y={box['top']:.0f}..{box['bottom']:.0f}"
    assert box["hit"], f"{what}: a tap on its middle does not reach it (hidden or covered)"


@pytest.mark.parametrize("lang", LANGS)
def test_every_navigation_item_is_on_screen_and_takes_a_tap(server, browser, lang):
    base, app = server
    with app.extensions["services"].database.writing() as s:
        # an administrator and editor: every item the navigation has
        store.add_user(s, "boss", PASSWORD, ["admins", "editors"], full_name="管理员甲")
    page = _phone(browser, base, "boss", lang)
    items = page.locator("header.top nav > a, header.top nav > button")
    names = items.evaluate_all("els => els.map(e => e.id)")
    assert len(names) >= 11, names  # inbox … access log, procedures
    _shot(page, f"nav-{lang}")
    _no_sideways(page, "inbox")
    for i, name in enumerate(names):
        _tappable(page, items.nth(i), f"#{name}")
    links = items.evaluate_all("els => els.filter(e => e.tagName === 'A').map(e => [e.id, e.getAttribute('href')])")
    for name, href in links:
        page.locator(f"#{name}").click(no_wait_after=False)
        page.wait_for_url(lambda url, href=href: urlsplit(url).path == href)
        _no_sideways(page, href)
        # the same on the page it led to: the last item (procedures) stays in reach everywhere
        _tappable(page, page.locator("header.top nav > :last-child"), f"{href}: the last item")
