"""YAML loading that remembers where every key and value came from (1-based line and column).

Procedures and forms are validated after loading; each problem must point at the line a
person wrote, so the loader keeps a map from data path (a tuple of keys and indices) to the
position of that node in the source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.errors import Problem
from engine.i18n import N_, _

Path = tuple[str | int, ...]


@dataclass
class Source:
    """Parsed YAML plus positions. ``problems`` is non-empty when the text could not be used."""

    file: str
    data: Any = None
    text: str = ""
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: The text is not YAML at all (a syntax error, whatever the language of its message).
    syntax_error: bool = False

    def where(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Position of the node at ``path``, or of the nearest ancestor that exists."""
        table = self.key_positions if key else self.positions
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if not key and p in self.key_positions:
                return self.key_positions[p]
            p = p[:-1]
        return self.positions.get((), (1, 1))

    def problem(self, path: Path, message: str, *, key: bool = False) -> Problem:
        line, col = self.where(path, key=key)
        return Problem(self.file, line, col, message)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


# libyaml parses about ten times faster (the library's 600 files took most of a start-up);
# its nodes carry the same marks. Its syntax messages are worded differently, so a text it
# refuses is parsed again by the pure-Python loader, whose wording the problems quote.
_FAST: type | None = getattr(yaml, "CSafeLoader", None)


# Bounds on any YAML a person types or uploads (procedures, forms, bundles, Try it answers).
# The largest shipped procedure is about 30 KB, 2,000 values and 10 levels deep; these leave
# ample room for real ones and stop bombs before they cost time or memory: a few hundred
# bytes of nested aliases expand to billions of values, and PyYAML's composer recurses once
# per level (5,000 levels end in a RecursionError).
MAX_CHARS = 1_000_000
MAX_DEPTH = 64
MAX_VALUES = 200_000  # scalars, mappings and lists, counting every alias as what it repeats
# libyaml's event parser where installed: the bounds check then costs a fraction of a parse.
_EVENTS = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def limit_problem(text: str, file: str = "<string>") -> Problem | None:
    """The first bound ``text`` breaks (size, nesting depth, values after alias expansion),
    found by streaming the parser's events: nothing is built, time stays linear in the
    text. None when the text is within bounds or is not YAML at all (the loader says so)."""
    if len(text) > MAX_CHARS:
        return Problem(file, 1, 1, _("the text has {n} characters; at most {limit} are accepted "
                                     "(split it, or move long texts out of it)",
                                     n=format(len(text), ","), limit=format(MAX_CHARS, ",")))
    try:
        return _scan(text, file, _EVENTS)
    except yaml.reader.ReaderError as exc:  # a control character: nothing else can be read
        return _unreadable(text, file, exc)
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in str(exc.problem):  # libyaml's own limit, far beyond ours
            mark = exc.problem_mark
            return Problem(file, mark.line + 1 if mark else 1, mark.column + 1 if mark else 1, _too_deep())
        # A syntax error: PyYAML's parser (not recursive either) checks the part before it,
        # and the loader then names the error.
        try:
            return _scan(text, file, yaml.SafeLoader)
        except yaml.YAMLError:
            return None


def _too_deep() -> str:
    return _("the YAML is nested more than {n} levels deep here; "
             "flatten it (real procedures and forms need about 10)", n=MAX_DEPTH)


def _scan(text: str, file: str, loader: Any) -> Problem | None:
    sizes: dict[str, int] = {}  # anchor -> values it stands for, expanded
    frames: list[list[Any]] = [[0, None]]  # per open collection: [values so far, its anchor]
    total = 0
    for event in yaml.parse(text, Loader=loader):
        mark = event.start_mark
        where = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if isinstance(event, yaml.AliasEvent):
            if event.anchor and any(anchor == event.anchor for _n, anchor in frames):
                # `&a [*a]`: a list (or mapping) inside itself, which PyYAML builds and every
                # reader of it then follows for ever (a RecursionError).
                return Problem(file, *where, _(
                    "the alias *{name} is inside the value of its own anchor &{name}, so it would "
                    "repeat for ever; write the values out, or refer to &{name} only after its "
                    "value ends", name=event.anchor))
            size = sizes.get(event.anchor or "", 1)
            frames[-1][0] += size
            total += size
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(frames) > MAX_DEPTH:
                return Problem(file, *where, _too_deep())
            frames.append([1, event.anchor])
            total += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            size, anchor = frames.pop()
            if anchor:
                sizes[anchor] = size
            frames[-1][0] += size
        elif isinstance(event, yaml.ScalarEvent):
            frames[-1][0] += 1
            total += 1
            if event.anchor:
                sizes[event.anchor] = 1
        if total > MAX_VALUES:
            return Problem(file, *where, _("the YAML holds more than {n} values once its aliases "
                                           "(*name) are expanded; write the values out or use fewer aliases",
                                           n=format(MAX_VALUES, ",")))
    return None


# A key followed by a full-width colon (Chinese input method): "title： 检验". YAML takes the
# whole line as text and reports a confusing error on a later line, so it is caught here, at
# its own line. Only after a name that can be a key (ASCII), outside block scalars. Likewise a
# full-width comma inside a list ([合格，不合格] is one item); in text it is just a comma.
_FULLWIDTH_KEY = re.compile(r"^(\s*(?:-\s+)?)([A-Za-z_][A-Za-z0-9_.-]*)\s*：")
_BLOCK_START = re.compile(r":\s*[|>][-+0-9]*\s*(#.*)?$")
_FULLWIDTH_IN_FLOW = re.compile(r"\[[^\]{}'\"#]*?(，)")


def _fullwidth(text: str, file: str) -> list[Problem]:
    problems = []
    block: int | None = None  # indentation of the key that opened a block scalar (| or >)
    for number, line in enumerate(text.splitlines(), start=1):
        indent = len(line) - len(line.lstrip())
        if block is not None:
            if not line.strip() or indent > block:
                continue  # text of a block scalar: anything goes
            block = None
        if _BLOCK_START.search(line):
            block = indent
        found = _FULLWIDTH_KEY.match(line)
        if found:
            key = found.group(2).strip()
            col = line.index("：", len(found.group(1))) + 1
            problems.append(Problem(file, number, col, _(
                "full-width colon '：' after '{key}': YAML needs the ASCII colon ':' and a space; "
                "write '{key}: ...'", key=key)))
            continue
        flow = _FULLWIDTH_IN_FLOW.search(line)
        if flow:
            problems.append(Problem(file, number, flow.start(1) + 1, _(
                "full-width comma '，' inside a list [...]: YAML separates items with the ASCII ','; "
                "replace it with ', ' (or quote the item if the '，' belongs to the text)")))
    return problems


# PyYAML's words for a syntax error, in the reader's language: its context ("while parsing a
# flow mapping") and its problem ("expected ',' or '}', but got ':'") are a small, fixed set
# of texts with a quoted token or character in some. English keeps them as PyYAML wrote them;
# a text not known here stays as PyYAML wrote it (quoted in Chinese).
_CONTEXTS = frozenset((
    N_("while parsing a flow mapping"),
    N_("while parsing a flow sequence"),
    N_("while parsing a block mapping"),
    N_("while parsing a block collection"),
    N_("while parsing a block node"),
    N_("while parsing a flow node"),
    N_("while parsing a node"),
    N_("while parsing a tag"),
    N_("while scanning a simple key"),
    N_("while scanning a quoted scalar"),
    N_("while scanning a double-quoted scalar"),
    N_("while scanning a block scalar"),
    N_("while scanning for the next token"),
    N_("while scanning an alias"),
    N_("while scanning an anchor"),
    N_("while scanning a tag"),
    N_("while scanning a directive"),
    N_("while constructing a mapping"),
    N_("expected a single document in the stream"),
))
_PROBLEMS = frozenset((
    N_("could not find expected ':'"),
    N_("sequence entries are not allowed here"),
    N_("mapping keys are not allowed here"),
    N_("mapping values are not allowed here"),
    N_("found unexpected end of stream"),
    N_("found unexpected document separator"),
    N_("found duplicate YAML directive"),
    N_("found incompatible YAML document (version 1.* is required)"),
    N_("but found another document"),
    N_("second occurrence"),
))
# What PyYAML expects or finds: its token names (``<block end>``) and plain words.
_TOKENS = frozenset((
    N_("<block end>"),
    N_("<block mapping start>"),
    N_("<block sequence start>"),
    N_("<flow mapping start>"),
    N_("<flow sequence start>"),
    N_("<scalar>"),
    N_("<stream start>"),
    N_("<stream end>"),
    N_("<document start>"),
    N_("<document end>"),
    N_("<alias>"),
    N_("<anchor>"),
    N_("<tag>"),
    N_("<directive>"),
    N_("alphabetic or numeric character"),
    N_("chomping or indentation indicators"),
    N_("indentation indicator in the range 1-9"),
    N_("the node content"),
    N_("a digit"),
    N_("a comment"),
    N_("a line break"),
    N_("URI"),
    N_("a mapping or list of mappings for merging"),  # << (merge key) followed by...
    N_("scalar"),
    N_("sequence"),
    N_("mapping"),
))
_QUOTED_TOKEN = re.compile(r"""^(?:'([^']*)'|"([^"]*)")$""")
_EXPECTED = re.compile(r"^expected (.+), but (found|got) (.+)$")
_HEX = re.compile(r"^(URI )?escape sequence of (\d+) hexadecimal numbers$")
# PyYAML's texts naming one token, alias, anchor or tag ({name}: as PyYAML quotes it).
_NAMED = (
    (re.compile(r"^found character (.+) that cannot start any token$"),
     N_("found character {name} that cannot start any token")),
    (re.compile(r"^found unknown escape character (.+)$"), N_("found unknown escape character {name}")),
    (re.compile(r"^found undefined alias (.+)$"), N_("found undefined alias {name}")),
    (re.compile(r"^found undefined tag handle (.+)$"), N_("found undefined tag handle {name}")),
    (re.compile(r"^duplicate tag handle (.+)$"), N_("duplicate tag handle {name}")),
    (re.compile(r"^found duplicate anchor (.+); first occurrence$"), N_("found duplicate anchor {name}; first occurrence")),
    (re.compile(r"^could not determine a constructor for the tag (.+)$"),
     N_("could not determine a constructor for the tag {name}")),
)


def yaml_error_words(exc: yaml.MarkedYAMLError) -> str:
    """What PyYAML says of a syntax error (``context, problem``), in the current language."""
    said = _yaml_words(exc.problem or str(exc))
    if exc.context:
        return _("{context}, {problem}", context=_yaml_words(exc.context), problem=said)
    return said


def _yaml_words(words: str) -> str:
    if words in _CONTEXTS or words in _PROBLEMS:
        return _(words)
    expected = _EXPECTED.match(words)
    if expected:
        want, verb, got = expected.groups()
        wanted = _yaml_token(want)
        if wanted is None:
            wanted = _yaml_either(want)
        found = _yaml_token(got)
        if wanted is not None and found is not None:
            if verb == "got":
                return _("expected {expected}, but got {found}", expected=wanted, found=found)
            return _("expected {expected}, but found {found}", expected=wanted, found=found)
    for pattern, say in _NAMED:
        named = pattern.match(words)
        if named:
            token = _yaml_token(named.group(1))
            if token is not None:
                return _(say, name=token)
    # Not one of PyYAML's known texts: kept as it is, quoted in the reader's language.
    return _("{yaml_words}", yaml_words=words)


def _yaml_either(words: str) -> str | None:
    """``a digit or '.'``: each side a token."""
    first, sep, second = words.partition(" or ")
    if not sep:
        return None
    a, b = _yaml_token(first), _yaml_token(second)
    if a is None or b is None:
        return None
    return _("{first} or {second}", first=a, second=b)


def _yaml_token(words: str) -> str | None:
    """One thing PyYAML expects or finds: a token name, a word, a number, or a quoted
    character (``':'``, ``'<block end>'``); None when it is none of these."""
    quoted = _QUOTED_TOKEN.match(words)
    inner = (quoted.group(1) if quoted.group(1) is not None else quoted.group(2)) if quoted else words
    if inner in _TOKENS:
        name = _(inner)
    elif quoted or inner.isdigit():
        name = inner
    else:
        hexa = _HEX.match(inner)
        if not hexa:
            return None
        if hexa.group(1):
            name = _("URI escape sequence of {n} hexadecimal numbers", n=hexa.group(2))
        else:
            name = _("escape sequence of {n} hexadecimal numbers", n=hexa.group(2))
    if not quoted:
        return name
    if quoted.group(2) is not None:
        return _('"{token}"', token=name)
    return _("'{token}'", token=name)


def load(text: str, file: str = "<string>") -> Source:
    """Parse one YAML document; syntax errors and duplicate keys become problems, not exceptions.
    Text beyond the bounds (``limit_problem``) is refused before it is parsed."""
    if _FAST is not None:
        src = _load(text, file, _FAST)
        if not src.syntax_error:
            return src
    return _load(text, file, yaml.SafeLoader)


def _load(text: str, file: str, kind: type) -> Source:
    src = Source(file, text=text)
    bound = limit_problem(text, file)
    if bound is not None:
        src.problems.append(bound)
        return src
    fullwidth = _fullwidth(text, file)
    if fullwidth:
        # The root errors: what YAML would say after them is their consequence.
        src.problems.extend(fullwidth)
        return src
    try:
        loader = kind(text)
    except yaml.reader.ReaderError as exc:  # a control character: the reader refuses the text
        src.problems.append(_unreadable(text, file, exc))
        src.syntax_error = True
        return src
    try:
        node = loader.get_single_node()
        if node is None:
            src.problems.append(Problem(file, 1, 1, _("the file is empty; write a YAML mapping")))
            return src
        src.data = _construct(loader, node, (), src)
    except yaml.MarkedYAMLError as exc:
        src.problems.append(syntax_problem(text, file, exc))
        src.syntax_error = True
        src.data = None
    finally:
        loader.dispose()
    return src


def syntax_problem(text: str, file: str, exc: yaml.MarkedYAMLError) -> Problem:
    """A syntax error at the mistake a person made, with its fix where it is one of the
    common ones (a tab, a quote or bracket left open, a line indented to no level, a ': '
    inside a value, a key without its ':'). PyYAML stops where the text stopped making
    sense, which is often lines after the mistake: at the end of the file for an unclosed
    quote, at the next line for an unclosed '['. Other errors keep PyYAML's words and place."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    lines = text.splitlines()
    found = _root_cause(text, lines, exc, line, col)
    if found is not None:
        return Problem(file, *found)
    return Problem(file, line, col, _("YAML syntax error: {what}; check indentation and quoting",
                                      what=yaml_error_words(exc)))


def _root_cause(text: str, lines: list[str], exc: yaml.MarkedYAMLError, line: int,
                col: int) -> tuple[int, int, str] | None:
    problem, context = exc.problem or "", exc.context or ""
    opened = exc.context_mark
    if context == "while scanning a quoted scalar" and opened is not None:
        quote = _char_at(lines, opened.line, opened.column) or '"'
        return opened.line + 1, opened.column + 1, _(
            "the quote {quote} opened here is never closed; end the value with {quote} on this line", quote=quote)
    spanning = _quote_run_on(text, line)
    if spanning is not None:
        at, end, quote = spanning
        return at[0], at[1], _(
            "the quote {quote} opened here is not closed on its line, so YAML reads on to line {end} as part of "
            "the text; end the value with {quote} on this line", quote=quote, end=end)
    if problem.startswith("found character '\\t'"):
        return line, col, _("a tab here, where YAML takes only spaces (to indent, and after ':' or '-'); "
                            "replace the tab with spaces")
    if context in ("while parsing a flow sequence", "while parsing a flow mapping") and opened is not None \
            and opened.line + 1 < line:
        bracket = "[" if "sequence" in context else "{"
        return opened.line + 1, opened.column + 1, _(
            "the '{open}' opened here is not closed; end it with '{close}' on this line (YAML read on to line "
            "{line} looking for it)", open=bracket, close="]" if bracket == "[" else "}", line=line)
    if problem == "mapping values are not allowed here":
        return _colon_out_of_place(lines, line, col)
    if problem.startswith("expected <block end>, but found"):
        return _misplaced_line(lines, line, col)
    return None


def _char_at(lines: list[str], line: int, column: int) -> str:
    """The character at a 0-based mark."""
    return lines[line][column] if 0 <= line < len(lines) and 0 <= column < len(lines[line]) else ""


def _quote_run_on(text: str, line: int) -> tuple[tuple[int, int], int, str] | None:
    """A quoted value that starts on one line and runs on to ``line``, where the error is
    (legal YAML, but with an error right after it almost always a closing quote left out):
    its opening (line, column), the line it ran on to, and the quote."""
    last = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.line + 1 >= line:
                break
            if isinstance(token, yaml.ScalarToken) and token.style in ('"', "'") \
                    and token.end_mark.line > token.start_mark.line:
                last = token
    except yaml.YAMLError:
        pass
    # Only when the error follows where it ended: its closing quote was meant to open the
    # value it stopped in (a quoted text over several lines, followed by no error, is fine).
    if last is None or last.end_mark.line + 1 != line:
        return None
    return (last.start_mark.line + 1, last.start_mark.column + 1), last.end_mark.line + 1, last.style or '"'


def _content(lines: list[str], before: int) -> tuple[int, str] | None:
    """The last line before the 1-based ``before`` that holds more than a comment or spaces."""
    for number in range(before - 1, 0, -1):
        stripped = lines[number - 1].strip()
        if stripped and not stripped.startswith("#"):
            return number, lines[number - 1]
    return None


_KEY = re.compile(r"^(\s*(?:-\s+)?)([^\s:#'\"][^:#]*?|'[^']*'|\"[^\"]*\"):(?:\s+|$)")


def _colon_out_of_place(lines: list[str], line: int, col: int) -> tuple[int, int, str] | None:
    """"mapping values are not allowed here": a ': ' YAML cannot take where it stands."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    key = _KEY.match(text)
    if key is not None and key.end() < col:  # `title: Note: read this` on one line
        value = text[key.end():].rstrip()
        return line, key.end() + 1, _(
            "the value of '{key}' holds ': ', which YAML reads as the start of another key; put the whole "
            "value in quotes: {key}: \"{value}\"", key=key.group(2), value=value.replace('"', '\\"'))
    above = _content(lines, line)
    if above is None:
        return None
    number, prior = above
    indent = len(text) - len(text.lstrip())
    prior_key = _KEY.match(prior)
    if prior_key is None:
        word = prior.strip()
        if word.startswith(("-", "[", "{", '"', "'")) or ":" in word:
            return None
        return number, len(prior.rstrip()) + 1, _(
            "'{word}' has no ':' after it, so YAML reads the deeper lines below it as more of its text; write "
            "'{word}:' to make it a key", word=word)
    if prior[prior_key.end():].strip() and indent > len(prior_key.group(1)):
        return line, indent + 1, _(
            "this line is indented deeper than '{key}' on line {above}, which has a value already, so YAML reads "
            "it as more of that value; indent it as '{key}' ({n} spaces)",
            key=prior_key.group(2), above=number, n=len(prior_key.group(1)))
    return None


def _misplaced_line(lines: list[str], line: int, col: int) -> tuple[int, int, str] | None:
    """"expected <block end>, but found ...": a line at an indentation no block above has,
    or text after a value's closing quote."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    indent = len(text) - len(text.lstrip())
    if col > indent + 1:
        if text[:col - 1].rstrip().endswith(('"', "'")):  # `title: "abc" def`
            return line, col, _("text after the closing quote: a value that starts with a quote must end with "
                                "it; put the whole value in quotes, or take the quotes away")
        return None
    levels: list[tuple[int, int]] = []  # (indentation, line) of each block still open above
    for number in range(line - 1, 0, -1):
        above = lines[number - 1]
        stripped = above.strip()
        if not stripped or stripped.startswith("#"):
            continue
        depth = len(above) - len(above.lstrip())
        if not levels or depth < levels[-1][0]:
            levels.append((depth, number))
        if depth == 0:
            break
    if not levels or any(depth == indent for depth, _n in levels):
        return None
    shown = ", ".join(_("{n} on line {line}", n=depth, line=number) for depth, number in levels)
    return line, indent + 1, _(
        "this line is indented {n} space{s}, which lines up with no line above it ({levels}); indent it as the "
        "lines it belongs with", n=indent, s="" if indent == 1 else "s", levels=shown)


def _unreadable(text: str, file: str, exc: yaml.reader.ReaderError) -> Problem:
    """Where a character YAML does not allow (a control character, often pasted from another
    program) is, and what to do."""
    char = exc.character if isinstance(exc.character, str) else chr(exc.character)
    # libyaml counts bytes of UTF-8, PyYAML characters; the first such character is the one.
    at = text.find(char)
    before = text[:at if at >= 0 else max(exc.position, 0)]
    line = before.count("\n") + 1
    col = len(before) - (before.rfind("\n") + 1) + 1
    return Problem(file, line, col, _("the character U+{code} cannot be in a YAML file (a control "
                                      "character, perhaps pasted from another program); delete it",
                                      code=format(ord(char), "04X")))


def load_file(path: str) -> Source:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        return Source(path, problems=[Problem(path, 1, 1, _("file is not UTF-8 text ({reason}); save it as UTF-8",
                                                             reason=exc.reason))])
    return load(text, path)


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: Path, src: Source) -> Any:
    src.positions[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            try:
                key = loader.construct_object(key_node, deep=True)
            except (ValueError, OverflowError):  # a timestamp that is no date: keep the text
                key = key_node.value
            if isinstance(key, bool) or (key is None and isinstance(key_node, yaml.ScalarNode)):
                # YAML 1.1 reads no/yes/on/off (and null, ~) as booleans or none: a step
                # called `no:` became `False`, and every reference to it failed after.
                written = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key)
                line, col = _mark(key_node)
                meaning = "none" if key is None else str(key).lower()
                src.problems.append(Problem(src.file, line, col, _(
                    "the key '{key}' is read by YAML as {meaning}, not as the name '{key}'; "
                    "quote it ('{key}':) or choose another name, e.g. '{key}_case'", key=written, meaning=meaning)))
                key = written
            if not isinstance(key, str | int | float | bool) or key is None:
                line, col = _mark(key_node)
                src.problems.append(Problem(src.file, line, col, _("keys must be plain names, not lists or mappings")))
                continue
            key = str(key) if not isinstance(key, str) else key
            kpath = (*path, key)
            if key in out:
                line, col = _mark(key_node)
                first = src.key_positions[kpath][0]
                src.problems.append(
                    Problem(src.file, line, col, _("duplicate key '{key}' (first given on line {first}); remove one of them",
                                                   key=key, first=first))
                )
                continue
            src.key_positions[kpath] = _mark(key_node)
            out[key] = _construct(loader, value_node, kpath, src)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, (*path, i), src) for i, item in enumerate(node.value)]
    try:
        value = loader.construct_object(node, deep=True)
    except (ValueError, OverflowError):  # a timestamp that is no date (2026-02-30): keep the text
        return node.value
    # Dates written bare in YAML (2026-01-01) become date objects; the rest of the engine
    # works with JSON data, so keep them as the text the author wrote.
    if not isinstance(value, str | int | float | bool | type(None)):
        return node.value
    return value


def safe_load_bounded(text: str, file: str = "<string>") -> Any:
    """``yaml.safe_load`` for text a person typed (Try it answers), within the same bounds as
    ``load``; ``ValueError`` with the problem when a bound is broken."""
    bound = limit_problem(text, file)
    if bound is not None:
        raise ValueError(str(bound))
    return yaml.safe_load(text)
