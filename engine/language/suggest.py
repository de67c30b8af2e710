"""The one "did you mean": the known name closest to a misspelt one.

Every message that proposes a fix for an unknown name (a step, a field, a key, a keyword, a
widget) takes its proposal from :func:`suggest`, so they all agree on what counts as close.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: How alike two names must be (difflib's ratio) before one is proposed for the other.
CUTOFF = 0.6


def suggest(word: str, candidates: Iterable[object]) -> str | None:
    """The candidate closest to ``word``, or None when none is close enough.

    Candidates that are not text (a YAML key written as a number) are never proposed. Ties
    go the same way whatever the order of ``candidates``: difflib ranks by (ratio, name).
    """
    names = [c for c in candidates if isinstance(c, str)]
    matches = difflib.get_close_matches(word, names, n=1, cutoff=CUTOFF)
    return matches[0] if matches else None
