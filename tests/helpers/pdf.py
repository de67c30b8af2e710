"""The text of a PDF that fpdf2 made with an embedded TrueType font, read back through the
font's ToUnicode map: enough to check what a printout says (one line per text operation)."""

from __future__ import annotations

import re
import zlib

_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_PAIR = re.compile(rb"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]+)>")
_SHOWN = re.compile(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", re.S)
# A justified line is shown as an array of strings and spacings: ``[(...) -250 (...)] TJ``.
_SHOWN_ARRAY = re.compile(rb"\[((?:\\.|[^\\\]])*)\]\s*TJ", re.S)
_STRING = re.compile(rb"\(((?:\\.|[^\\)])*)\)", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _streams(data: bytes) -> list[bytes]:
    out = []
    for m in _STREAM.finditer(data):
        try:  # leniently: the pattern may take a last byte \r of the data for the line end
            out.append(zlib.decompressobj().decompress(m.group(1)))
        except zlib.error:
            out.append(m.group(1))
    return out


def _unescape(raw: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i:i + 1] == b"\\" and i + 1 < len(raw):
            nxt = raw[i + 1:i + 2]
            octal = re.match(rb"[0-7]{1,3}", raw[i + 1:i + 4])
            if octal:
                out.append(int(octal.group(0), 8))
                i += 1 + len(octal.group(0))
                continue
            out += _ESCAPES.get(nxt, nxt)
            i += 2
            continue
        out += raw[i:i + 1]
        i += 1
    return bytes(out)


def pdf_text(data: bytes) -> str:
    streams = _streams(data)
    cmap: dict[int, str] = {}
    for s in streams:
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", s, re.S):
            for src, dst in _PAIR.findall(block):
                cmap[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    lines = []
    for s in streams:
        shown = [(m.start(), [m.group(1)]) for m in _SHOWN.finditer(s)]
        shown += [(m.start(), _STRING.findall(m.group(1))) for m in _SHOWN_ARRAY.finditer(s)]
        for _at, parts in sorted(shown):
            b = b"".join(_unescape(raw) for raw in parts)
            lines.append("".join(cmap.get(int.from_bytes(b[i:i + 2], "big"), "?") for i in range(0, len(b) - 1, 2)))
    return "\n".join(lines)


_RECT = re.compile(rb"(-?[\d.]+) (-?[\d.]+) (-?[\d.]+) (-?[\d.]+) re f\b")


def pdf_qr(data: bytes, modules: int, size_mm: float = 24.0) -> list[list[bool]]:
    """The QR code a PDF draws as filled rectangles (``web.dossier_pdf``: one per run of dark
    modules, ``size_mm`` wide, ``modules`` across), read back as rows of dark/light modules."""
    m = size_mm / modules * 72 / 25.4  # one module in points
    runs = []
    for s in _streams(data):
        for x, y, w, h in _RECT.findall(s):
            x, y, w, h = float(x), float(y), float(w), float(h)
            if abs(abs(h) - m) < 0.02:
                runs.append((x, max(y, y + h) if h < 0 else y + h, w))  # (left, top, width)
    if not runs:
        return []
    left, top = min(r[0] for r in runs), max(r[1] for r in runs)
    grid = [[False] * modules for _ in range(modules)]
    for x, y, w in runs:
        row, col = round((top - y) / m), round((x - left) / m)
        for c in range(col, col + round(w / m)):
            grid[row][c] = True
    return grid
