"""A record's QR code: its address, drawn on its page and its dossier so that a printout can be
scanned back to the record (the header's 扫码 opens it; web/static/scan.js).

segno (pure Python, maintained) makes the code; it is written inline as SVG, so a page or a
print needs no extra request and no image file.
"""

from __future__ import annotations

import segno
from flask import Flask, url_for
from markupsafe import Markup


def record_qr(instance_id: str) -> Markup:
    """The inline SVG QR code of the record's page address (absolute, on this host)."""
    url = url_for("instances.show", instance_id=instance_id, _external=True)
    svg = segno.make_qr(url, error="m").svg_inline(scale=4, border=2, omitsize=True, title=None)
    return Markup(svg)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["record_qr"] = record_qr
