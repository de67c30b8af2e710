"""Procedure model and validation: YAML step graphs turned into frozen, checked definitions.

``parse_procedure`` reads one procedure file and reports every problem at the line and
column where the author can fix it; ``load_library`` reads folders of procedures and forms
together, since a procedure is only valid relative to the forms it names.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from engine.errors import DefinitionInvalid, ExpressionError, Problem
from engine.i18n import N_, _, current_locale
from engine.language import spawns
from engine.language import yaml_source as yamlsrc
from engine.language.calendar import Duration, DurationError, parse_duration
from engine.language.english import English, Texts, role_shown
from engine.language.english import check_procedure as check_english
from engine.language.expr_types import Kind, approval_kinds, form_kinds, result_kind
from engine.language.expressions import Expr, check_names, compile_expr
from engine.language.forms import FieldInfo, Form, parse_form
from engine.language.records import RECORD_KEYS, Records, parse_records
from engine.language.suggest import suggest
from engine.language.yaml_source import Path as YamlPath

if TYPE_CHECKING:
    from engine.language.deployment import Settings

#: The keys of a multi-party approval (会签、或签、依次): see ``Approvers``.
APPROVAL_PARTY_KEYS = ("approvers", "mode", "rejection", "if_nobody", "skip_repeated", "add_approver")
#: Where an approver comes from: one of these keys per entry of ``approvers``.
APPROVER_SOURCES = ("role", "user", "field", "manager", "head_of", "pick")
APPROVAL_MODES = ("all", "any", "sequence", "at_least", "share")
#: What an expression reads after a multi-party approval, besides decision and comment.
PARTY_FIELDS = ("approvals", "rejections", "approvers")
STARTER = "starter"  # ``manager: starter``, ``head_of: starter``: whoever started the instance
STEP_TYPES = ("task", "approval", "decision", "parallel", "join", "wait", "spawn", "end")
SIGNATURE_MEANINGS = ("审核", "批准", "验收", "确认")
APPROVAL_FIELDS = ("decision", "comment")
APPROVAL_DECISIONS = ("approve", "reject")
INSTANCE_FIELDS = ("instance.id", "instance.started_at", "instance.started_by", "instance.procedure")

SERIAL_PREFIX = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")


def default_serial_prefix(procedure_id: str) -> str:
    """The initials of a kebab-case id (after-sales-inspection: ASI); a one-word id gives its
    first four letters (capa: CAPA)."""
    words = [w for w in procedure_id.split("-") if w]
    if len(words) == 1:
        return words[0][:4].upper() or "R"
    prefix = "".join(w[0] for w in words if w[0].isalnum()).upper()[:8]
    return prefix if prefix[:1].isalpha() else "R" + prefix[:7]


TOP_KEYS = {
    "id": True, "title": True, "description": False, "source": False, "calendar": False, "serial": False,
    "roles": True, "start": True, "steps": True, "starts": False, "withdraw": False, "correct_closed": False,
    "en": False,  # English titles beside the Chinese ones (engine/language/english.py)
    **dict.fromkeys(RECORD_KEYS, False),  # ledger, index, kpis: see engine/records.py
}
COMMON_STEP_KEYS = {"type", "title", "description", "instructions"}
#: The task actions a person's step may declare (docs/procedure-language.md, "Task actions").
ACTION_KEYS = {"transfer", "return_to", "resume", "recall", "cc", "cc_add"}
RESUME_CHOICES = ("again", "here", "choose")
STEP_KEYS = {
    "task": {"role", "form", "next", "signature", "deadline", "separate_from", "hide", "edit", "prefill",
             *ACTION_KEYS},
    "approval": {"role", "form", "next", "on_reject", "signature", "deadline", "separate_from", "on_correction",
                 "hide", "edit", "prefill", *APPROVAL_PARTY_KEYS, *ACTION_KEYS},
    "decision": {"next"},
    "parallel": {"branches", "join"},
    "join": {"next"},
    "wait": {"duration", "until", "offset", "next"},
    "spawn": {"procedure", "with", "next", "again"},
    "end": {"outcome", "ends_instance"},
}
DEADLINE_KEYS = {"within", "within_expr", "due_expr", "calendar", "remind_before", "escalate"}
STEP_ID = re.compile(r"^[a-z][a-z0-9_]*$")
KEBAB_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Transition:
    """One way out of a step; ``condition`` None means unconditional (or the ``else``)."""

    target: str
    condition: Expr | None = None


MANAGER = "manager"  # escalation target: the manager of the task's assignee (or last holder)


@dataclass(frozen=True)
class Escalation:
    """One level: ``to`` is a role id or ``MANAGER``; ``fallback`` the role used when the
    holder has no manager (default: the next role level of the chain, else the step's role)."""

    after: Duration
    to: str
    fallback: str | None = None


@dataclass(frozen=True)
class Deadline:
    """How the due time of a task is found: one of ``within``, ``within_cases``,
    ``within_expr`` or ``due_expr``; then reminder and escalation levels."""

    within: Duration | None = None
    within_cases: tuple[tuple[Expr | None, Duration], ...] = ()
    within_expr: Expr | None = None
    due_expr: Expr | None = None
    calendar: str = "default"
    remind_before: Duration | None = None
    escalate: tuple[Escalation, ...] = ()


@dataclass(frozen=True)
class ApproverSource:
    """One entry of ``approvers:``. ``kind`` is one of ``APPROVER_SOURCES``; ``value`` the
    role id (``role``, and ``pick``'s candidate role), the user name (``user``), ``STEP.FIELD``
    (``field``, ``pick``, and ``manager``/``head_of`` when read from the record),
    ``starter``, or a department id or name (``head_of``). ``levels``: how far up the chain
    (``manager``: 1 = the direct manager; ``head_of``: 0 = the department itself)."""

    kind: str
    value: str
    levels: int = 0
    # The STEP.FIELD read from the record: pick's choice, a manager's user, a department.
    field: str | None = None

    def describe(self) -> str:
        if self.kind == "pick":
            return f"pick {self.field} from {self.value}"
        up = f" +{self.levels}" if (self.kind == "manager" and self.levels != 1) or (
            self.kind == "head_of" and self.levels) else ""
        return f"{self.kind}: {self.value}{up}"

    def shown(self, role_title: Callable[[str], str]) -> str:
        """Who this source means, as a reader of the record reads it in the current language
        (``describe`` is what the record stores: the YAML's own words)."""
        if self.kind == "user":
            return self.value
        if self.kind == "role":
            return _("a holder of {role}", role=role_title(self.value))
        if self.kind == "field":
            return _("the person in {field}", field=self.value)
        if self.kind == "pick":
            return _("the person picked in {field} from {role}", field=self.field, role=role_title(self.value))
        if self.kind == "manager":
            whose = _("the starter") if self.value == STARTER else _("the person in {field}", field=self.value)
            return (_("the manager of {whose}", whose=whose) if self.levels == 1
                    else _("the manager {n} level(s) above {whose}", n=self.levels, whose=whose))
        dept = (_("the starter's department") if self.value == STARTER
                else _("the department in {field}", field=self.field) if self.field else self.value)
        return (_("the head of {department}", department=dept) if not self.levels
                else _("the head {n} level(s) above {department}", n=self.levels, department=dept))


@dataclass(frozen=True)
class Approvers:
    """A multi-party approval (会签 ``all``, 或签 ``any``, 依次 ``sequence``, ``at_least`` N,
    ``share`` of the approvers). ``veto``: one rejection rejects the step (else rejections
    count against the threshold). ``if_nobody``: ``approve``, ``role`` (``nobody_role``),
    ``admins`` or None (the step's ``role`` when it has one, else admins)."""

    sources: tuple[ApproverSource, ...]
    mode: str = "all"
    at_least: int = 0
    share: float = 0.0
    veto: bool = True
    if_nobody: str | None = None
    nobody_role: str | None = None
    skip_repeated: bool = False
    add_from: str | None = None  # 加签: the role whose holders may be added

    def needed(self, total: int) -> int:
        """Approvals needed out of ``total`` approvers (at least one, at most ``total``)."""
        if self.mode == "any":
            need = 1
        elif self.mode == "at_least":
            need = self.at_least
        elif self.mode == "share":
            need = math.ceil(round(self.share * total, 9))
        else:
            need = total
        return max(1, min(need, total)) if total else 0


@dataclass(frozen=True)
class Step:
    id: str
    type: str
    title: str
    description: str = ""
    role: str | None = None
    form: str | None = None
    next: tuple[Transition, ...] = ()
    on_reject: str | None = None
    signature: str | None = None
    deadline: Deadline | None = None
    branches: tuple[str, ...] = ()
    join: str | None = None
    duration: Duration | None = None
    until: Expr | None = None
    offset: Duration | None = None
    procedure: str | None = None
    with_: tuple[tuple[str, Expr], ...] = ()
    outcome: str | None = None
    ends_instance: bool = False
    spawn_again: bool = False  # a spawn step entered again (rework) opens another instance
    # Separation of duties: steps (``start``: who started the instance) whose doers may not
    # do this one.
    separate_from: tuple[str, ...] = ()
    # ``reapprove``: a correction of a value this approval's signature covered opens the
    # approval again, so the approver signs the corrected record.
    on_correction: str | None = None
    # What the step's page shows of earlier data (read-only by default): ``hide`` lists
    # ``STEP.FIELD``s it does not show; ``edit`` those its actor may change (as corrections).
    hide: tuple[str, ...] = ()
    edit: tuple[str, ...] = ()
    # What the step's form starts with besides the declared defaults: (field, source) where
    # the source is ``me`` (whoever opens the task: the doer) or a ``STEP.FIELD`` recorded earlier.
    prefill: tuple[tuple[str, str], ...] = ()
    # A multi-party approval: who approves and how their decisions combine.
    approvers: Approvers | None = None
    # Task actions (engine.runtime.actions). 转交 to another holder of the role:
    transfer: bool = True
    # 退回: earlier steps this one may send the instance back to, and how it comes back:
    # ``again`` (the path is walked again), ``here`` (straight back here) or ``choose``.
    return_to: tuple[str, ...] = ()
    resume: str = "again"
    # 收回: whoever completed this step may take it back while the next tasks are untouched.
    recall: bool = False
    # 抄送 when the step is completed: role ids and ``user:NAME``; and whether the person
    # working on it may send it to others (``cc_add``).
    cc: tuple[str, ...] = ()
    cc_add: bool = False
    # The English of its title and instructions (the procedure's ``en:`` block), if given.
    english: Texts | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        """Every step this one can lead to directly."""
        out = [t.target for t in self.next] + list(self.branches)
        if self.on_reject:
            out.append(self.on_reject)
        return tuple(out)

    @property
    def is_human(self) -> bool:
        return self.type in ("task", "approval")


@dataclass(frozen=True)
class Procedure:
    id: str
    title: str
    roles: Mapping[str, str]
    start_roles: tuple[str, ...]
    start_step: str
    steps: Mapping[str, Step]
    forms: Mapping[str, Form]
    description: str = ""
    source: str = ""
    calendar: str = "default"
    start_form: str | None = None
    file: str = ""
    text: str = field(default="", repr=False)
    starts: tuple[Any, ...] = ()  # engine.language.starts.Schedule | Trigger
    records: Records = field(default_factory=Records, repr=False)
    # 撤回: whether the starter may withdraw an instance nobody else has worked on yet.
    withdraw: bool = True
    # The roles that correct a completed or cancelled record (``correct_closed:``); by
    # default the procedure's ``quality_manager`` role if it declares one, else nobody.
    correct_closed: tuple[str, ...] = ()
    # The prefix of the record numbers (流水号 ``PREFIX-YYYYMM-NNNN``): ``serial:`` or the
    # initials of the id (after-sales-inspection: ASI).
    serial: str = ""
    # The ``en:`` block: English titles beside the Chinese ones (engine.language.english).
    english: English | None = None

    def role_title(self, role: str | None, locale: str = "zh") -> str:
        """A role's title in ``locale`` (English where the ``en:`` block gives it)."""
        return role_shown(self.roles, self.english, role, locale)

    @cached_property
    def content_hash(self) -> str:
        """Identity of this version: the procedure text plus the content of the forms it uses."""
        h = hashlib.sha256(self.text.encode())
        for fid in sorted(self.forms):
            f = self.forms[fid]
            body = json.dumps([f.title, f.description, f.schema, *([f.english.raw()] if f.english else [])],
                              sort_keys=True, ensure_ascii=False)
            h.update(b"\0" + fid.encode() + b"\0" + body.encode())
        return h.hexdigest()

    def form_of(self, step_id: str) -> Form | None:
        form_id = self.steps[step_id].form if step_id != "start" else self.start_form
        return self.forms.get(form_id) if form_id else None


@dataclass
class Library:
    """Procedures and forms read together from files, with every problem found."""

    procedures: dict[str, Procedure] = field(default_factory=dict)
    forms: dict[str, Form] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def require_valid(self) -> Library:
        if self.problems:
            raise DefinitionInvalid(self.problems)
        return self


# ---------------------------------------------------------------------------------------
# Loading


def _yaml_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml") and q.is_file()))
        else:
            out.append(p)
    return out


# Parsing and checking 38 procedures with 165 forms takes seconds (the line-keeping YAML
# loader and the JSON-Schema metaschema check), and a process meets the same texts again and
# again (each Workflow, each test). Procedures and forms are immutable, so a parse is kept by
# its exact input texts.
_MEMO_SIZE = 64
# The files read, each as (name, bytes or None when missing): what a library is kept by.
_Contents = tuple[tuple[str, bytes | None], ...]
# Kept by the locale too: the problems are worded in the reader's language.
_libraries: dict[tuple[_Contents, _Contents, _Contents, str], Library] = {}
_compiled: dict[
    tuple[str, str, tuple[tuple[str, str], ...]], tuple[Procedure, Mapping[str, Form]]
] = {}

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


def _remember(memo: dict[_K, _V], key: _K, make: Callable[[], _V]) -> _V:
    found = memo.get(key)
    if found is None:
        found = make()
        if len(memo) >= _MEMO_SIZE:
            memo.pop(next(iter(memo)))
        memo[key] = found
    return found


def _contents(files: list[Path]) -> _Contents:
    return tuple((str(p), p.read_bytes() if p.is_file() else None) for p in files)


def load_library(
    paths: Iterable[str | os.PathLike[str]], *, extra_forms: Iterable[str | os.PathLike[str]] = (),
    extra_procedures: Iterable[str | os.PathLike[str]] = (), config: Settings | None = None,
) -> Library:
    """Read every procedure and form under ``paths`` (files or folders).

    A file whose top level has ``schema`` is a form, anything else a procedure. Forms in
    ``extra_forms`` are available to the procedures but their problems are not reported
    (used when validating one procedure file against the shipped forms folder). Spawn steps
    may open the procedures of ``extra_procedures`` and of the folders of the files given
    (read as outlines only; their problems are not reported either). With ``config``, roles
    without user groups and unknown calendars are problems too (``deployment.check_config``).
    """
    files = _yaml_files(paths)
    extra = _yaml_files(p for p in map(Path, extra_forms) if p.exists())
    given = {p.resolve() for p in files}
    folders = {p.parent for p in files if p.is_file()} | {p for p in map(Path, extra_procedures) if p.is_dir()}
    others = [q for q in _yaml_files(sorted(folders)) if q.resolve() not in given]
    key = (_contents(files), _contents(extra), _contents(others), current_locale())
    lib = _remember(_libraries, key, lambda: _load_library(files, extra, others))
    problems = list(lib.problems)
    if config is not None:
        from engine.language.deployment import check_config

        problems = sorted(problems + check_config(lib.procedures.values(), config))
    return Library(procedures=dict(lib.procedures), forms=dict(lib.forms), problems=problems)


def _load_library(files: list[Path], extra: list[Path], others: list[Path]) -> Library:
    lib = Library()
    sources: list[yamlsrc.Source] = []
    seen_forms: dict[str, str] = {}

    broken_forms: dict[str, str] = {}

    def add_form(src: yamlsrc.Source, report: bool) -> None:
        form, problems = parse_form(src)
        if report:
            lib.problems.extend(problems)
        if form is None and isinstance(src.data, dict) and isinstance(src.data.get("id"), str):
            broken_forms.setdefault(src.data["id"], src.file)
        if form is not None:
            if form.id in seen_forms and report:
                lib.problems.append(src.problem(("id",), _("form id '{id}' is also defined in {file}; give each form its own id",
                                                                  id=form.id, file=seen_forms[form.id])))
            seen_forms.setdefault(form.id, src.file)
            lib.forms.setdefault(form.id, form)

    for path in files:
        if not path.exists():
            lib.problems.append(Problem(str(path), 1, 1, _("no such file or folder")))
            continue
        src = yamlsrc.load_file(str(path))
        if src.problems and src.data is None:
            lib.problems.extend(src.problems)
            continue
        if isinstance(src.data, dict) and "schema" in src.data and "steps" not in src.data:
            add_form(src, True)
        else:
            sources.append(src)
    for path in extra:
        src = yamlsrc.load_file(str(path))
        if src.data is not None and isinstance(src.data, dict) and "schema" in src.data:
            form, _problems = parse_form(src)
            if form is not None:
                lib.forms.setdefault(form.id, form)
            elif isinstance(src.data.get("id"), str):
                broken_forms.setdefault(src.data["id"], src.file)
    for src in sources:
        proc, problems = parse_procedure(src, lib.forms, broken_forms)
        lib.problems.extend(problems)
        if proc is not None:
            if proc.id in lib.procedures:
                lib.problems.append(src.problem(("id",), _("procedure id '{id}' is also defined in {file}",
                                                                    id=proc.id, file=lib.procedures[proc.id].file)))
            lib.procedures.setdefault(proc.id, proc)
    from engine.language.starts import check_triggers

    outlines = {k: v for k, v in spawns.outlines(others).items() if k not in lib.procedures}
    for proc in lib.procedures.values():
        lib.problems.extend(check_triggers(proc, lib.procedures, outlines))
    lib.problems.extend(spawns.check_spawns(lib.procedures, outlines, lib.forms))
    lib.problems.sort()
    return lib


def compile_stored(source: str, file: str, form_texts: Mapping[str, str]) -> Procedure:
    """A stored version (procedure text and its forms' texts) compiled; raises
    ``DefinitionInvalid`` with every problem. Kept by its texts (see ``_remember``)."""
    key = (source, file, tuple(sorted(form_texts.items())))
    return _remember(_compiled, key, lambda: _compile_stored(source, file, form_texts))[0]


def _compile_stored(source: str, file: str, form_texts: Mapping[str, str]) -> tuple[Procedure, Mapping[str, Form]]:
    forms = {}
    problems = []
    for fid, text in form_texts.items():
        form, errs = parse_form(yamlsrc.load(text, f"{fid}.yaml"))
        problems += errs
        if form is not None:
            forms[fid] = form
    if problems:
        raise DefinitionInvalid(problems)
    return load_procedure_text(source, file, forms), forms


def load_procedure_text(text: str, file: str, forms: Mapping[str, Form]) -> Procedure:
    """Parse one procedure from text; raise ``DefinitionInvalid`` with every problem."""
    proc, problems = parse_procedure(yamlsrc.load(text, file), forms)
    if problems or proc is None:
        raise DefinitionInvalid(problems or [Problem(file, 1, 1, _("not a procedure"))])
    return proc


# ---------------------------------------------------------------------------------------
# Parsing and validation


class ProcedureChecker:
    """Collects problems while turning the raw YAML of one procedure into a ``Procedure``."""

    def __init__(self, src: yamlsrc.Source, forms: Mapping[str, Form]) -> None:
        self.src = src
        self.forms = forms
        self.problems: list[Problem] = list(src.problems)
        self.exprs: list[tuple[str, Expr, YamlPath, str]] = []  # (step, expr, path, when)
        self.broken_links = False  # an unknown step reference makes graph checks misleading
        # step -> the targets of its transitions whose condition did not compile: no
        # Transition is made, but the graph checks count the link the author wrote (else its
        # target "cannot be reached", a second, misleading problem).
        self.unparsed_links: dict[str, set[str]] = {}
        self.broken_forms: Mapping[str, str] = {}  # form id -> file, for forms that failed to parse
        # Steps (``start``) whose 'form:' names no usable form: their fields are unknowable,
        # so naming them is not reported again (``unknown_forms``).
        self.formless: set[str] = set()
        # (step, "hide" or "edit", the STEP.FIELDs listed, where)
        self.field_refs: list[tuple[str, str, tuple[str, ...], YamlPath]] = []
        # Approvers read from the record: (step, STEP.FIELD, path, "user" or "text").
        self.party_fields: list[tuple[str, str, YamlPath, str]] = []

    def err(self, path: YamlPath, message: str, *, key: bool = False) -> None:
        self.problems.append(self.src.problem(path, message, key=key))

    # -- small typed readers ------------------------------------------------------------

    def _written(self, path: YamlPath) -> str:
        """The word as the author wrote it at ``path`` (for YAML's booleans: no, off, ...)."""
        line, col = self.src.where(path)
        lines = self.src.text.splitlines()
        text = lines[line - 1][col - 1:] if 0 < line <= len(lines) else ""
        match = re.match(r"[^\s,\]}#]+", text)
        return match.group(0) if match else "?"

    def text(self, node: Mapping[str, Any], key: str, path: YamlPath, *, required: bool = False) -> str | None:
        value = node.get(key)
        if value is None:
            if required:
                self.err(path, _("missing '{key}'; add '{key}: ...'", key=key))
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.err((*path, key), _("'{key}' must be text", key=key))
            return None
        return str(value)

    def keys(self, node: Mapping[str, Any], allowed: Iterable[str], path: YamlPath, what: str) -> None:
        allowed = set(allowed)
        for key in node:
            if key not in allowed:
                hint = suggest(str(key), sorted(allowed))
                fix = _did_you_mean(hint) if hint else _("allowed here: {keys}", keys=", ".join(sorted(allowed)))
                # ``what`` comes translated, or in English from another module ("a schedule"):
                # the catalog has those too (see _KEYS_OF).
                self.err((*path, key), _("unknown key '{key}' in {what}; {fix}", key=key, what=_(what), fix=fix),
                         key=True)

    def duration(self, value: Any, path: YamlPath, *, least: int | None = None) -> Duration | None:
        """A duration text; ``least`` 1 where it must be after the moment it counts from (a
        deadline's ``within``: 0 or -3d opens the task overdue), 0 where it may not be negative
        (a reminder, an escalation's ``after``)."""
        if value is None:
            return None
        if not isinstance(value, str):
            self.err(path, _("bad duration {value}: write a number and a unit, e.g. 24h, 3d, 8wh, 2wd",
                             value=repr(value)))
            return None
        try:
            found = parse_duration(value)
        except DurationError as exc:
            self.err(path, str(exc))
            return None
        if least is not None and found.amount < least:
            self.err(path, _("a deadline of {value} would open the task already overdue: write a time after it "
                             "opens, e.g. 3d or 8wh", value=value) if least > 0 else
                     _("{value} is negative: write how long before or after, e.g. 2h", value=value))
            return None
        return found

    def expr(self, value: Any, path: YamlPath, step: str, when: str, *, checked: bool = True) -> Expr | None:
        """Compile an expression; ``checked`` ones have their names checked against the
        fields of earlier steps (triggers are checked against the watched procedure)."""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.err(path, _("expected an expression (text), e.g. inspect.verdict == \"合格\""))
            return None
        try:
            compiled = compile_expr(str(value))
        except ExpressionError as exc:
            line, col = self.src.where(path)
            col += getattr(exc, "offset", 0) or 0
            self.problems.append(Problem(self.src.file, line, col, _("expression error: {message}", message=exc.message)))
            return None
        if checked:
            self.exprs.append((step, compiled, path, when))
        return compiled

    def ref(self, value: Any, known: Iterable[str], path: YamlPath, what: str) -> str | None:
        if isinstance(value, bool):
            word = self._written(path)
            self.err(path, _("YAML reads {word} as {value}, not as a {what} id; quote it: \"{word}\"",
                             word=word, value=str(value).lower(), what=_ref_noun(what)))
            self.broken_links |= what == "step"
            return None
        if not isinstance(value, str):
            self.err(path, _("expected the id of a {what}", what=_ref_noun(what)))
            return None
        known = list(known)
        if value not in known:
            if what == "form" and path:
                self.formless.add("start" if path[0] == "start" else str(path[1]))
            if what == "form" and value in self.broken_forms:
                # The form's own problems are the root error: no list of every form id.
                self.err(path, _("form '{form}' cannot be used until the problems reported for {file} are fixed",
                                 form=value, file=self.broken_forms[value]))
                return None
            hint = suggest(value, known)
            listed = sorted(known)
            shown = ", ".join(listed[:12]) + (_(", ... ({n} in all)", n=len(listed)) if len(listed) > 12 else "")
            noun = _ref_noun(what)
            fix = _did_you_mean(hint) if hint else (
                _("known {what}s: {names}", what=noun, names=shown) if known
                else _("declare the {what} first", what=noun))
            self.err(path, _("unknown {what} '{value}'; {fix}", what=noun, value=value, fix=fix))
            self.broken_links |= what == "step"
            return None
        return value


def _did_you_mean(hint: str) -> str:
    return _("did you mean '{hint}'?", hint=hint)


def _ref_noun(what: str) -> str:
    """The kind of thing a reference names (``ProcedureChecker.ref``), in the reader's words."""
    return {"step": _("step"), "role": _("role"), "form": _("form")}.get(what, what)


def _type_name(stype: str) -> str:
    """``task step``, ``decision step``, ...: a step type as the reader calls it."""
    return {
        "task": _("task step"), "approval": _("approval step"), "decision": _("decision step"),
        "parallel": _("parallel step"), "join": _("join step"), "wait": _("wait step"),
        "spawn": _("spawn step"), "end": _("end step"),
    }.get(stype, f"{stype} step")


def _a_step(stype: str) -> str:
    """Where an unknown key was found in a step: ``a task step`` (English keeps ``a end step``)."""
    return {
        "task": _("a task step"), "approval": _("a approval step"), "decision": _("a decision step"),
        "parallel": _("a parallel step"), "join": _("a join step"), "wait": _("a wait step"),
        "spawn": _("a spawn step"), "end": _("a end step"),
    }.get(stype, f"a {stype} step")


# Where an unknown key is (``ProcedureChecker.keys``) as other modules name it, in English:
# translated there with ``_(what)``.
_KEYS_OF = (N_("a schedule"), N_("a trigger"))


def parse_procedure(src: yamlsrc.Source, forms: Mapping[str, Form],
                    broken_forms: Mapping[str, str] | None = None) -> tuple[Procedure | None, list[Problem]]:
    """Check one procedure against the language and the given forms (``broken_forms``: ids
    of forms whose files have problems of their own, with the file)."""
    c = ProcedureChecker(src, forms)
    c.broken_forms = broken_forms or {}
    raw = src.data
    if raw is None:
        return None, c.problems
    if not isinstance(raw, dict):
        c.err((), _("a procedure file must be a mapping with id, title, roles, start and steps"))
        return None, c.problems

    c.keys(raw, TOP_KEYS, (), _("the procedure"))
    for key, required in TOP_KEYS.items():
        if required and key not in raw:
            c.err((), _("missing '{key}' at the top of the procedure; add '{key}:'", key=key))
    pid = c.text(raw, "id", ())
    if pid is not None:
        stem = Path(src.file).stem
        if not KEBAB_ID.match(pid):
            c.err(("id",), _("procedure id '{id}' must be kebab-case (lower-case words joined by '-')", id=pid))
        elif src.file.endswith((".yaml", ".yml")) and stem != pid:
            c.err(("id",), _("procedure id '{id}' does not match the file name '{stem}'; rename one of them",
                             id=pid, stem=stem))
    title = c.text(raw, "title", ()) or ""
    calendar = c.text(raw, "calendar", ()) or "default"
    serial = c.text(raw, "serial", ())
    if serial is not None and not SERIAL_PREFIX.match(serial):
        c.err(("serial",), _("serial prefix '{serial}' must be 1 to 8 capital letters or digits starting "
                             "with a letter, e.g. 'TS' for record numbers such as TS-202612-0007", serial=serial))
        serial = None

    roles = _parse_roles(c, raw.get("roles"))
    steps_raw = raw.get("steps")
    if steps_raw is not None and not isinstance(steps_raw, dict):
        c.err(("steps",), _("'steps' must be a mapping of step id to step"))
        steps_raw = None
    steps_raw = steps_raw or {}
    if "steps" in raw and not steps_raw:
        c.err(("steps",), _("a procedure needs at least one step"))
    step_ids = list(steps_raw)
    for sid in step_ids:
        if not STEP_ID.match(str(sid)):
            c.err(("steps", sid), _("step id '{sid}' must be lower_snake_case (a-z, 0-9, _)", sid=sid), key=True)
        if sid in ("start", "instance"):
            c.err(("steps", sid), _("'{sid}' is a reserved name; choose another step id", sid=sid), key=True)

    start_roles, start_step, start_form = _parse_start(c, raw.get("start"), roles, step_ids)

    from engine.language.starts import Schedule, parse_starts

    starts = parse_starts(c, raw.get("starts"), roles)
    if start_form and start_form in c.forms:
        for i, st in enumerate(starts):
            if isinstance(st, Schedule):
                for e in c.forms[start_form].validate(dict(st.data), "en"):
                    c.err(("starts", i, "data"), _("schedule start data does not fit the start form '{form}': "
                                                   "{field}: {message}", form=start_form, field=e["field"],
                                                   message=e["message"]))

    steps: dict[str, Step] = {}
    for sid, node in steps_raw.items():
        step = _parse_step(c, str(sid), node, roles, step_ids, calendar)
        if step is not None:
            steps[str(sid)] = step

    if steps and start_step in steps and not c.broken_links and len(steps) == len(steps_raw):
        _check_graph(c, steps, start_step)
        _check_parallel(c, steps)
        _check_expressions(c, steps, start_step, start_form)

    withdraw = True
    if "withdraw" in raw:
        if not isinstance(raw["withdraw"], bool):
            c.err(("withdraw",), _("'withdraw' is true (the default: the starter may withdraw an instance "
                                   "nobody else has worked on) or false"))
        else:
            withdraw = raw["withdraw"]
    if steps and start_step in steps and not c.broken_links and len(steps) == len(steps_raw):
        _check_returns(c, steps, start_step)
    correct_closed = _parse_correct_closed(c, raw, roles)

    english = None
    if "en" in raw:
        english = check_english(raw["en"], steps_raw, roles, lambda path, message, key=False: c.err(path, message, key=key))
        if english is not None:
            steps = {sid: replace(st, english=english.parts.get(sid)) if sid in english.parts else st
                     for sid, st in steps.items()}
    records = Records()
    if steps and any(k in raw for k in RECORD_KEYS):
        records = parse_records(raw, _record_fields(c, steps, start_form), c.err,
                                blind=frozenset(c.formless))
    if c.problems:
        return None, sorted(set(c.problems))
    used_forms = {s.form for s in steps.values() if s.form}
    if start_form:
        used_forms.add(start_form)
    proc = Procedure(
        id=pid or "", title=title, roles=roles, start_roles=tuple(start_roles),
        start_step=start_step or "", steps=steps,
        forms={f: forms[f] for f in sorted(used_forms)},
        description=c.text(raw, "description", ()) or "", source=c.text(raw, "source", ()) or "",
        calendar=calendar, start_form=start_form, file=src.file, text=src.text, starts=starts,
        records=records, serial=serial or default_serial_prefix(pid or ""), withdraw=withdraw,
        english=english, correct_closed=correct_closed,
    )
    return proc, []


#: Who corrects a closed record when a procedure does not say (``correct_closed:``).
CLOSED_CORRECTION_ROLE = "quality_manager"


def _parse_correct_closed(c: ProcedureChecker, raw: Mapping[str, Any], roles: Mapping[str, str]) -> tuple[str, ...]:
    """``correct_closed: [ROLE, ...]``: the roles that correct a completed or cancelled record
    (``[]``: nobody). Left out: ``quality_manager`` when the procedure declares it, else nobody."""
    if "correct_closed" not in raw:
        return (CLOSED_CORRECTION_ROLE,) if CLOSED_CORRECTION_ROLE in roles else ()
    node = raw["correct_closed"]
    if not isinstance(node, list):
        c.err(("correct_closed",), _("'correct_closed' lists the roles that may correct a completed or "
                                     "cancelled record, e.g. [quality_manager]; [] for nobody"))
        return ()
    found = [r for i, r in enumerate(node) if c.ref(r, roles, ("correct_closed", i), "role")]
    return tuple(dict.fromkeys(found))


def _record_fields(c: ProcedureChecker, steps: Mapping[str, Step], start_form: str | None) -> dict[str, FieldInfo]:
    """Every ``STEP.FIELD`` recorded by a form (``start.FIELD`` for the start form), for the
    ledger, index and KPI declarations; approvals add ``STEP.decision``."""
    out: dict[str, FieldInfo] = {}
    for sid, form_id in [("start", start_form), *((s.id, s.form) for s in steps.values())]:
        form = c.forms.get(form_id) if form_id else None
        if form is not None:
            out.update({f"{sid}.{path}": info for path, info in form.fields.items()})
    for s in steps.values():
        if s.type == "approval":
            out[f"{s.id}.decision"] = FieldInfo("decision", "string", "审批决定", "radio", enum=list(APPROVAL_DECISIONS))
        if s.approvers is not None:  # a multi-party approval's counts, for ledgers and KPIs
            out[f"{s.id}.approvals"] = FieldInfo("approvals", "integer", "同意人数", "number")
            out[f"{s.id}.rejections"] = FieldInfo("rejections", "integer", "驳回人数", "number")
    return out


def _parse_roles(c: ProcedureChecker, node: Any) -> dict[str, str]:
    roles: dict[str, str] = {}
    if node is None:
        return roles
    if not isinstance(node, dict) or not node:
        c.err(("roles",), _("'roles' must map each role id to its title, e.g. inspector: 售后检验人员"))
        return roles
    for rid, value in node.items():
        if not STEP_ID.match(str(rid)):
            c.err(("roles", rid), _("role id '{rid}' must be lower_snake_case", rid=rid), key=True)
        if isinstance(value, dict):
            c.keys(value, ("title", "description"), ("roles", rid), _("role '{rid}'", rid=rid))
            roles[str(rid)] = str(value.get("title") or rid)
        elif isinstance(value, str):
            roles[str(rid)] = value
        else:
            c.err(("roles", rid), _("role '{rid}' needs a title (text) or {{title, description}}", rid=rid))
    return roles


def _parse_start(c: ProcedureChecker, node: Any, roles: Mapping[str, str], step_ids: list[str]) -> tuple[list[str], str | None, str | None]:
    if node is None:
        return [], None, None
    if not isinstance(node, dict):
        c.err(("start",), _("'start' must be a mapping: {roles: [...], step: FIRST_STEP}"))
        return [], None, None
    c.keys(node, ("roles", "step", "form"), ("start",), _("'start'"))
    start_roles: list[str] = []
    rnode = node.get("roles")
    if not isinstance(rnode, list) or not rnode:
        c.err(("start", "roles") if "roles" in node else ("start",), _("'start.roles' must list the roles that may start an instance, e.g. [inspector]"))
    else:
        for i, r in enumerate(rnode):
            if c.ref(r, roles, ("start", "roles", i), "role"):
                start_roles.append(r)
    step = None
    if "step" not in node:
        c.err(("start",), _("missing 'start.step': the first step of the procedure"))
    else:
        step = c.ref(node["step"], step_ids, ("start", "step"), "step")
    form = None
    if "form" in node:
        form = c.ref(node["form"], c.forms, ("start", "form"), "form")
    return start_roles, step, form


def _parse_next(c: ProcedureChecker, node: Any, path: YamlPath, sid: str, step_ids: list[str]) -> tuple[Transition, ...]:
    if isinstance(node, str):
        target = c.ref(node, step_ids, path, "step")
        return (Transition(target),) if target else ()
    if not isinstance(node, list) or not node:
        c.err(path, _("'next' must be a step id or a list of {if: CONDITION, goto: STEP} ending with {else: STEP}"))
        return ()
    out: list[Transition] = []
    has_else = False
    for i, item in enumerate(node):
        ipath = (*path, i)
        if not isinstance(item, dict):
            c.err(ipath, _("each entry of a conditional 'next' is {if: CONDITION, goto: STEP} or {else: STEP}"))
            continue
        if "else" in item:
            c.keys(item, ("else",), ipath, _("an 'else' entry"))
            if has_else:
                c.err(ipath, _("only one 'else' is allowed"))
            elif i != len(node) - 1:
                c.err(ipath, _("'else' must be the last entry; conditions after it are never tried"))
            has_else = True
            target = c.ref(item["else"], step_ids, (*ipath, "else"), "step")
            if target:
                out.append(Transition(target))
            continue
        if "then" in item and "goto" not in item:
            # 'then' is the word of a deadline's conditional 'within', written one screen away.
            c.err((*ipath, "then"), _("a transition names its step with 'goto', not 'then' ('then' gives the "
                                       "duration in a deadline's 'within' list): write goto: {step}",
                                       step=item["then"]), key=True)
            if isinstance(item["then"], str) and item["then"] in step_ids:
                c.unparsed_links.setdefault(sid, set()).add(item["then"])
            continue
        c.keys(item, ("if", "goto"), ipath, _("a conditional transition"))
        if "if" not in item or "goto" not in item:
            c.err(ipath, _("a conditional transition needs both 'if: CONDITION' and 'goto: STEP'"))
            continue
        cond = c.expr(item["if"], (*ipath, "if"), sid, "next")
        target = c.ref(item["goto"], step_ids, (*ipath, "goto"), "step")
        if cond is not None and target:
            out.append(Transition(target, cond))
        elif target:
            c.unparsed_links.setdefault(sid, set()).add(target)
    if not has_else:
        c.err(path, _("conditional 'next' of step '{sid}' has no 'else'; add '- else: STEP' as the last entry so "
                      "that no instance gets stuck", sid=sid))
    return tuple(out)


def _parse_deadline(c: ProcedureChecker, node: Any, path: YamlPath, sid: str, roles: Mapping[str, str], calendar: str) -> Deadline | None:
    if not isinstance(node, dict):
        c.err(path, _("'deadline' must be a mapping, e.g. {within: 24h, remind_before: 2h, escalate: qa_supervisor}"))
        return None
    c.keys(node, DEADLINE_KEYS, path, _("a deadline"))
    ways = [k for k in ("within", "within_expr", "due_expr") if k in node]
    if len(ways) != 1:
        c.err(path, _("a deadline needs exactly one of 'within', 'within_expr' or 'due_expr'"))
    within = None
    cases: list[tuple[Expr | None, Duration]] = []
    w = node.get("within")
    if isinstance(w, list):
        has_else = False
        for i, item in enumerate(w):
            ipath = (*path, "within", i)
            if not isinstance(item, dict):
                c.err(ipath, _("each entry is {if: CONDITION, then: DURATION} or {else: DURATION}"))
                continue
            if "else" in item:
                c.keys(item, ("else",), ipath, _("an 'else' entry"))
                has_else = True
                d = c.duration(item["else"], (*ipath, "else"), least=1)
                if d:
                    cases.append((None, d))
                continue
            if "goto" in item and "then" not in item:
                c.err((*ipath, "goto"), _("a conditional duration gives its duration with 'then', not 'goto' "
                                          "('goto' names a step in 'next'): write then: 24h"), key=True)
                continue
            c.keys(item, ("if", "then"), ipath, _("a conditional duration"))
            cond = c.expr(item.get("if"), (*ipath, "if"), sid, "deadline")
            d = c.duration(item.get("then"), (*ipath, "then"), least=1)
            if cond is not None and d is not None:
                cases.append((cond, d))
        if not has_else:
            c.err((*path, "within"), _("conditional 'within' has no 'else'; add '- else: DURATION' as the last entry"))
    elif w is not None:
        within = c.duration(w, (*path, "within"), least=1)
    within_expr = c.expr(node["within_expr"], (*path, "within_expr"), sid, "deadline") if "within_expr" in node else None
    due_expr = c.expr(node["due_expr"], (*path, "due_expr"), sid, "deadline") if "due_expr" in node else None
    escalations: list[Escalation] = []
    esc = node.get("escalate")
    if isinstance(esc, str):
        if c.ref(esc, roles, (*path, "escalate"), "role"):
            escalations.append(Escalation(Duration(0, "h"), esc))
    elif isinstance(esc, list):
        for i, item in enumerate(esc):
            ipath = (*path, "escalate", i)
            if not isinstance(item, dict) or "to" not in item:
                c.err(ipath, _("each escalation level is {after: DURATION, to: ROLE or manager}"))
                continue
            c.keys(item, ("after", "to", "fallback"), ipath, _("an escalation level"))
            after = c.duration(item.get("after", "0h"), (*ipath, "after"), least=0)
            fallback = None
            to: str | None
            if item["to"] == MANAGER and MANAGER not in roles:
                to = MANAGER
                if "fallback" in item:
                    fallback = c.ref(item["fallback"], roles, (*ipath, "fallback"), "role")
            else:
                to = c.ref(item["to"], roles, (*ipath, "to"), "role")
                if "fallback" in item:
                    c.err((*ipath, "fallback"), _("'fallback' applies to 'to: manager' only; remove it"))
            if after is not None and to:
                escalations.append(Escalation(after, to, fallback))
    elif esc is not None:
        c.err((*path, "escalate"), _("'escalate' is a role id or a list of {after: DURATION, to: ROLE}"))
    return Deadline(
        within=within, within_cases=tuple(cases), within_expr=within_expr, due_expr=due_expr,
        calendar=str(node.get("calendar") or calendar),
        remind_before=c.duration(node.get("remind_before"), (*path, "remind_before"), least=0),
        escalate=tuple(escalations),
    )


def _parse_step(c: ProcedureChecker, sid: str, node: Any, roles: Mapping[str, str], step_ids: list[str], calendar: str) -> Step | None:
    path = ("steps", sid)
    if not isinstance(node, dict):
        c.err(path, _("step '{sid}' must be a mapping with at least a title", sid=sid))
        return None
    stype = node.get("type", "task")
    if stype not in STEP_TYPES:
        hint = suggest(str(stype), STEP_TYPES)
        c.err((*path, "type"), _("unknown step type '{type}'; did you mean '{hint}'?", type=stype, hint=hint) if hint
              else _("unknown step type '{type}'; use one of {types}", type=stype, types=", ".join(STEP_TYPES)))
        return None
    c.keys(node, COMMON_STEP_KEYS | STEP_KEYS[stype], path, _a_step(stype))
    title = c.text(node, "title", path, required=True) or sid
    kw: dict[str, Any] = {}

    if stype in ("task", "approval"):
        if stype == "approval" and "approvers" in node:
            kw["approvers"] = _parse_approvers(c, node, path, sid, roles)
            if "on_correction" in node:
                c.err((*path, "on_correction"), _("'on_correction' is not available on a step with 'approvers' yet; "
                      "remove it, or use a single-approver step ('role:') for approvals that are re-signed"))
        else:
            for key in APPROVAL_PARTY_KEYS[1:] if stype == "approval" else ():
                if key in node:
                    c.err((*path, key), _("'{key}' applies to a step with 'approvers:' (several approvers); "
                          "add 'approvers:' or remove it", key=key), key=True)
        if "role" in node and _field_for_role(c, node["role"], roles, (*path, "role"), stype == "approval"):
            pass
        elif "role" in node:
            kw["role"] = c.ref(node["role"], roles, (*path, "role"), "role")
        elif not (stype == "approval" and "approvers" in node):
            # With 'approvers', 'role' is optional: the role approvers found nobody go to.
            c.err(path, _("task step '{sid}' needs 'role': who does it", sid=sid) if stype == "task"
                  else _("approval step '{sid}' needs 'role': who does it", sid=sid))
        if "form" in node:
            kw["form"] = c.ref(node["form"], c.forms, (*path, "form"), "form")
        elif stype == "task":
            c.err(path, _("task step '{sid}' needs 'form': what the person fills in", sid=sid))
        sig = node.get("signature")
        if isinstance(sig, dict):
            c.keys(sig, ("meaning",), (*path, "signature"), _("a signature"))
            sig = sig.get("meaning")
        if sig is not None:
            if not isinstance(sig, str) or not sig.strip():
                c.err((*path, "signature"), _("'signature' gives the meaning of the signature, e.g. {meanings}",
                                              meanings=" / ".join(SIGNATURE_MEANINGS)))
            else:
                kw["signature"] = sig
        if "deadline" in node:
            kw["deadline"] = _parse_deadline(c, node["deadline"], (*path, "deadline"), sid, roles, calendar)
        if stype == "approval" and "on_reject" in node:
            kw["on_reject"] = c.ref(node["on_reject"], step_ids, (*path, "on_reject"), "step")
        if stype == "approval" and "on_correction" in node:
            if node["on_correction"] != "reapprove":
                c.err((*path, "on_correction"), _("'on_correction' takes one value, 'reapprove': a correction "
                      "of what this approval signed opens it again"))
            else:
                kw["on_correction"] = "reapprove"
        if "separate_from" in node:
            sep = node["separate_from"]
            sep = [sep] if isinstance(sep, str) else sep
            if not isinstance(sep, list) or not sep:
                c.err((*path, "separate_from"), _("'separate_from' lists the steps whose doers may not do this "
                      "one, e.g. [report] (or 'start': whoever started the instance)"))
            else:
                kw["separate_from"] = tuple(
                    t for i, x in enumerate(sep)
                    if (t := c.ref(x, ["start", *step_ids], (*path, "separate_from", i), "step")))
        kw.update(_parse_actions(c, sid, node, roles, step_ids, path))
        for key in ("hide", "edit"):
            if key in node:
                refs = _field_refs(c, node[key], (*path, key), key)
                if refs is not None:
                    kw[key] = refs
                    c.field_refs.append((sid, key, refs, (*path, key)))
        if "prefill" in node:
            kw["prefill"] = _parse_prefill(c, sid, node, (*path, "prefill"))
    if stype == "parallel":
        br = node.get("branches")
        if not isinstance(br, list) or len(br) < 2:
            c.err((*path, "branches") if "branches" in node else path, _("a parallel step needs 'branches': a list of at least two first steps"))
        else:
            kw["branches"] = tuple(t for i, b in enumerate(br) if (t := c.ref(b, step_ids, (*path, "branches", i), "step")))
        if "join" not in node:
            c.err(path, _("parallel step '{sid}' needs 'join': the join step that closes its branches", sid=sid))
        else:
            kw["join"] = c.ref(node["join"], step_ids, (*path, "join"), "step")
    if stype == "wait":
        if ("duration" in node) == ("until" in node):
            c.err(path, _("wait step '{sid}' needs exactly one of 'duration: 5d' or 'until: EXPRESSION'", sid=sid))
        kw["duration"] = c.duration(node.get("duration"), (*path, "duration"))
        if "until" in node:
            kw["until"] = c.expr(node["until"], (*path, "until"), sid, "wait")
        kw["offset"] = c.duration(node.get("offset"), (*path, "offset"))
        if "offset" in node and "until" not in node:
            c.err((*path, "offset"), _("'offset' applies to 'until'; with 'duration' just change the duration"))
    if stype == "spawn":
        if "procedure" not in node:
            c.err(path, _("spawn step '{sid}' needs 'procedure': the id of the procedure to open", sid=sid))
        elif not isinstance(node["procedure"], str) or not KEBAB_ID.match(node["procedure"]):
            c.err((*path, "procedure"), _("'procedure' must be a procedure id (kebab-case)"))
        else:
            kw["procedure"] = node["procedure"]
        w = node.get("with", {})
        if not isinstance(w, dict):
            c.err((*path, "with"), _("'with' maps fields of the new instance's start data to expressions"))
        else:
            kw["with_"] = tuple((str(k), e) for k, v in w.items() if (e := c.expr(v, (*path, "with", k), sid, "spawn")))
        if "again" in node:
            if not isinstance(node["again"], bool):
                c.err((*path, "again"), _("'again' is true (open a new linked instance each time the step is "
                                          "entered, e.g. after a rejection) or false (the default: only the first "
                                          "time)"))
            else:
                kw["spawn_again"] = node["again"]
    if stype == "end":
        kw["outcome"] = c.text(node, "outcome", path, required=True)
        if "ends_instance" in node:
            if not isinstance(node["ends_instance"], bool):
                c.err((*path, "ends_instance"), _("'ends_instance' is true or false"))
            else:
                kw["ends_instance"] = node["ends_instance"]
    elif stype != "parallel":
        if "next" not in node:
            c.err(path, _("step '{sid}' needs 'next': where to go afterwards (or make it 'type: end')", sid=sid))
        else:
            kw["next"] = _parse_next(c, node["next"], (*path, "next"), sid, step_ids)
    return Step(id=sid, type=stype, title=title, description=str(node.get("description") or node.get("instructions") or ""), **kw)


PREFILL_ME = "me"


def _parse_prefill(c: ProcedureChecker, sid: str, node: Mapping[str, Any], path: YamlPath) -> tuple[tuple[str, str], ...]:
    """``prefill: {FIELD: me | STEP.FIELD}``: fields of the step's own form, filled when the
    task opens with the person opening it or a value recorded earlier (checked against the
    graph with ``hide``/``edit``)."""
    raw = node["prefill"]
    if not isinstance(raw, dict) or not raw:
        c.err(path, _("'prefill' maps fields of this step's form to 'me' (whoever opens the task) or a field "
                      "recorded earlier (STEP.FIELD), e.g. {inspector: me, conclusion: inspect.verdict}"))
        return ()
    form = c.forms.get(node.get("form") or "")
    if form is None:
        if "form" not in node:
            c.err(path, _("'prefill' fills the step's form; add 'form:' or remove it"))
        return ()
    fields = {f: info for f, info in form.fields.items() if "." not in f}
    out: list[tuple[str, str]] = []
    for name, source in raw.items():
        where = (*path, name)
        if name not in fields:
            hint = suggest(str(name), sorted(fields))
            c.err(where, _("form '{form}' has no field '{name}' to prefill; did you mean '{hint}'?",
                           form=form.id, name=name, hint=hint) if hint
                  else _("form '{form}' has no field '{name}' to prefill; its fields: {fields}",
                         form=form.id, name=name, fields=", ".join(sorted(fields))), key=True)
            continue
        if fields[name].compute is not None:
            c.err(where, _("'{name}' is computed (x-compute); it needs no prefill", name=name))
            continue
        if source == PREFILL_ME:
            if fields[name].type not in ("string", None):
                c.err(where, _("'me' fills in a user name, but '{name}' is of type {type}; "
                               "use it on a user field (x-widget: user)", name=name, type=fields[name].type))
                continue
        elif not isinstance(source, str) or not _FIELD_REF.match(source):
            c.err(where, _("prefill '{name}' from 'me' (whoever opens the task) or a field recorded earlier as "
                           "STEP.FIELD, e.g. {{inspector: me, conclusion: inspect.verdict}}", name=name))
            continue
        else:
            c.field_refs.append((sid, "prefill", (source,), where))  # checked against the graph
        out.append((str(name), source))
    return tuple(out)


def _field_refs(c: ProcedureChecker, node: Any, path: YamlPath, key: str) -> tuple[str, ...] | None:
    """``hide:``/``edit:``: a list of ``STEP.FIELD`` texts (checked against the graph later)."""
    items = [node] if isinstance(node, str) else node
    if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
        c.err(path, _("'hide' lists fields of earlier steps not shown on this step's page, as STEP.FIELD, "
                      "e.g. [evaluate.note]") if key == "hide"
              else _("'edit' lists fields of earlier steps this step's actor may change, as STEP.FIELD, "
                     "e.g. [evaluate.verdict]"))
        return None
    return tuple(items)


def _check_field_refs(c: ProcedureChecker, steps: Mapping[str, Step], start_form: str | None,
                      before: Callable[[str], set[str]]) -> None:
    """Each ``hide``/``edit`` entry names a top-level field of a step that can come before
    (``start.FIELD`` for the start form); ``edit`` only fields a person entered (not
    computed, not tables, files or groups)."""
    for sid, key, refs, path in c.field_refs:
        earlier = ["start"] * bool(start_form) + sorted(before(sid) - {sid})
        for i, ref in enumerate(refs):
            where = (*path, i) if isinstance(c.src.data, dict) and isinstance(
                ((c.src.data.get("steps") or {}).get(sid) or {}).get(key), list) else path
            root, _dot, name = ref.partition(".")
            if not name:
                c.err(where, _("'{key}: {ref}': name a field of an earlier step as STEP.FIELD, e.g. {step}.FIELD",
                               key=key, ref=ref, step=(earlier or ["inspect"])[-1]))
                continue
            if root not in earlier:
                hint = suggest(root, earlier)
                fix = _did_you_mean(hint) if hint else (
                    _("steps before '{sid}': {steps}", sid=sid, steps=", ".join(earlier)) if earlier
                    else _("no step comes before it"))
                known = root in steps or root == "start"
                what = (_("step '{step}' does not come before '{sid}'", step=root, sid=sid) if known
                        else _("unknown step '{step}'", step=root))
                c.err(where, _("'{key}: {ref}': {what}; {fix}", key=key, ref=ref, what=what, fix=fix))
                continue
            form = c.forms.get((start_form if root == "start" else steps[root].form) or "")
            fields = {f: info for f, info in (form.fields.items() if form else ()) if "." not in f}
            extra = list(APPROVAL_FIELDS) if root != "start" and steps[root].type == "approval" and key == "hide" else []
            if name not in fields and name not in extra:
                names = sorted([*fields, *extra])
                hint = suggest(name, names)
                fix = _did_you_mean(f"{root}.{hint}") if hint else _(
                    "fields of '{step}': {fields}", step=root, fields=", ".join(names) or _("none"))
                c.err(where, _("'{key}: {ref}': '{step}' has no field '{name}'; {fix}",
                               key=key, ref=ref, step=root, name=name, fix=fix))
                continue
            if key == "edit":
                info = fields.get(name)
                if info is None:
                    c.err(where, _("'edit: {ref}': an approval's decision is changed by approving again, not edited",
                                   ref=ref))
                elif info.compute is not None:
                    c.err(where, _("'edit: {ref}': '{name}' is computed (x-compute: {compute}); "
                                   "list the fields it is computed from instead", ref=ref, name=name,
                                   compute=info.compute))
                elif info.widget in ("table", "file", "signature", "group"):
                    c.err(where, _("'edit: {ref}': a {widget} cannot be edited from another step; "
                                   "list single values (text, numbers, dates, choices)", ref=ref, widget=info.widget))
        both = set(refs) & set(next((r for s_, k, r, _p in c.field_refs if s_ == sid and k == "hide"), ()))
        if key == "edit" and both:
            c.err(path, _("{fields}: listed under both 'hide' and 'edit'; a field this step changes must be shown",
                          fields=", ".join(sorted(both))))
_FIELD_REF = re.compile(r"^[a-z][a-z0-9_]*\.[A-Za-z0-9_]+$")


def _parse_approvers(c: ProcedureChecker, node: Mapping[str, Any], path: YamlPath, sid: str,
                     roles: Mapping[str, str]) -> Approvers | None:
    """``approvers:`` with ``mode``, ``rejection``, ``if_nobody``, ``skip_repeated`` and
    ``add_approver``. Fields named by sources are checked later (``_check_party_fields``),
    against the fields recorded before the step."""
    apath = (*path, "approvers")
    raw = node["approvers"]
    if not isinstance(raw, list) or not raw:
        c.err(apath, _("'approvers' lists who approves, e.g. [{role: quality_rep}, {manager: starter}, "
                       "{field: start.approver}]"))
        return None
    sources: list[ApproverSource] = []
    for i, item in enumerate(raw):
        ipath = (*apath, i)
        if not isinstance(item, dict):
            c.err(ipath, _("each approver is one of {{{sources}: ...}}, e.g. {{role: finance}}",
                           sources=": ..., ".join(APPROVER_SOURCES)))
            continue
        c.keys(item, (*APPROVER_SOURCES, "levels"), ipath, _("an approver"))
        given = [k for k in APPROVER_SOURCES if k in item]
        if len(given) != 1:
            if given or not any(k not in APPROVER_SOURCES and k != "levels" for k in item):
                c.err(ipath, _("an approver needs exactly one of {sources}; it gives {given}",
                               sources=", ".join(APPROVER_SOURCES), given=", ".join(given)) if given
                      else _("an approver needs exactly one of {sources}", sources=", ".join(APPROVER_SOURCES)))
            continue
        kind = given[0]
        value = item[kind]
        vpath = (*ipath, kind)
        levels = 1 if kind == "manager" else 0
        if "levels" in item:
            if kind not in ("manager", "head_of"):
                c.err((*ipath, "levels"), _("'levels' applies to 'manager' and 'head_of' only; remove it"), key=True)
            elif isinstance(item["levels"], bool) or not isinstance(item["levels"], int) or not (
                    (1 if kind == "manager" else 0) <= item["levels"] <= 10):
                c.err((*ipath, "levels"), _("'levels' of 'manager' counts managers up the chain: 1 (the direct "
                       "manager) to 10") if kind == "manager" else _("'levels' of 'head_of' counts departments "
                       "up the tree: 0 (the department itself) to 10"))
            else:
                levels = item["levels"]
        if kind == "role" and _field_for_role(c, value, roles, vpath, None):
            continue
        if kind == "role":
            role = c.ref(value, roles, vpath, "role")
            if role:
                sources.append(ApproverSource("role", role))
        elif kind == "user":
            if not isinstance(value, str) or not value.strip():
                c.err(vpath, _("'user' names one user account, e.g. user: zhangsan"))
            else:
                sources.append(ApproverSource("user", value.strip()))
        elif kind == "pick":
            if not isinstance(value, dict):
                c.err(vpath, _("'pick' is {from: ROLE, field: STEP.FIELD}: the starter (or an earlier step) "
                               "chooses the approver in a user field, among the holders of ROLE"))
                continue
            c.keys(value, ("from", "field"), vpath, _("a pick"))
            missing = [k for k in ("from", "field") if k not in value]
            if missing:
                c.err(vpath, _("'pick' needs {keys}: {{from: ROLE, field: STEP.FIELD}}",
                               keys=_(" and ").join(_("'{key}'", key=k) for k in missing)))
                continue
            role = c.ref(value["from"], roles, (*vpath, "from"), "role")
            fld = _party_field(c, value["field"], (*vpath, "field"), sid, "user")
            if role and fld:
                sources.append(ApproverSource("pick", role, field=fld))
        elif kind == "field":
            fld = _party_field(c, value, vpath, sid, "user")
            if fld:
                sources.append(ApproverSource("field", fld))
        else:  # manager, head_of
            if value == STARTER:
                sources.append(ApproverSource(kind, STARTER, levels))
            elif isinstance(value, str) and _FIELD_REF.match(value):
                fld = _party_field(c, value, vpath, sid, "user" if kind == "manager" else "text")
                if fld:
                    sources.append(ApproverSource(kind, fld, levels, field=fld))
            elif kind == "head_of" and isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                sources.append(ApproverSource(kind, str(value).strip(), levels))
            else:
                what = (_("'manager' is 'starter' or a user field recorded earlier (STEP.FIELD)") if kind == "manager"
                        else _("'head_of' is a department (its id or name), 'starter' (the starter's department) "
                               "or a field recorded earlier (STEP.FIELD)"))
                c.err(vpath, what)
    mode, at_least, share = _parse_mode(c, node.get("mode"), (*path, "mode"), len(raw)) if "mode" in node else ("all", 0, 0.0)
    veto = True
    if "rejection" in node:
        r = node["rejection"]
        if r not in ("veto", "count"):
            hint = suggest(str(r), ("veto", "count"))
            c.err((*path, "rejection"), _("unknown rejection '{value}'; {fix}", value=r, fix=_did_you_mean(hint) if hint
                  else _("use 'veto' (one rejection rejects the step) or 'count' (rejections count against the "
                         "threshold)")))
        veto = r != "count"
    if_nobody, nobody_role = None, None
    if "if_nobody" in node:
        nb = node["if_nobody"]
        npath = (*path, "if_nobody")
        if isinstance(nb, dict):
            c.keys(nb, ("role",), npath, _("'if_nobody'"))
            if "role" in nb:
                nobody_role = c.ref(nb["role"], roles, (*npath, "role"), "role")
                if_nobody = "role" if nobody_role else None
        elif nb in ("approve", "admins"):
            if_nobody = nb
        else:
            hint = suggest(str(nb), ("approve", "admins"))
            c.err(npath, _("unknown if_nobody '{value}'; {fix}", value=nb, fix=_did_you_mean(hint) if hint
                  else _("use 'approve' (counts as approved, recorded), 'admins', or {role: ROLE}")))
    skip = node.get("skip_repeated", False)
    if not isinstance(skip, bool):
        c.err((*path, "skip_repeated"), _("'skip_repeated' is true (skip a person who already approved earlier in "
              "the instance, recorded) or false"))
        skip = False
    add_from = None
    if "add_approver" in node:
        ad = node["add_approver"]
        adpath = (*path, "add_approver")
        if not isinstance(ad, dict) or "from" not in ad:
            c.err(adpath, _("'add_approver' is {from: ROLE}: an approver may add (加签) a holder of ROLE before or "
                            "after themselves"))
        else:
            c.keys(ad, ("from",), adpath, _("'add_approver'"))
            add_from = c.ref(ad["from"], roles, (*adpath, "from"), "role")
    return Approvers(tuple(sources), mode, at_least, share, veto, if_nobody, nobody_role, bool(skip), add_from)


def _field_for_role(c: ProcedureChecker, value: Any, roles: Mapping[str, str], path: YamlPath,
                    approval: bool | None) -> bool:
    """``role: start.approver``: a field where a role is expected. Reported with the way to
    ask the person the field names (``approval``: on a step's ``role``; None: in approvers)."""
    if not isinstance(value, str) or value in roles or not _FIELD_REF.match(value):
        return False
    if approval is None:
        fix = _("write 'field: {value}' to ask the person it names", value=value)
    elif approval:
        fix = _("to ask the person it names, write 'approvers: [{{field: {value}}}]' instead of 'role'", value=value)
    else:
        fix = _("a task step is done by a role; name one of the procedure's roles")
    c.err(path, _("'{value}' is a field, not a role; {fix}", value=value, fix=fix))
    return True


def _parse_mode(c: ProcedureChecker, mode: Any, path: YamlPath, count: int) -> tuple[str, int, float]:
    if isinstance(mode, dict) and len(mode) == 1:
        key, value = next(iter(mode.items()))
        if key == "at_least":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                c.err((*path, key), _("'at_least' is a whole number of approvals, at least 1"))
            elif value > count:
                c.err((*path, key), _("'at_least: {value}' asks for more approvals than the {count} approvers "
                                      "listed; use at most {count}, or list more approvers", value=value, count=count))
            else:
                return "at_least", value, 0.0
            return "all", 0, 0.0
        if key == "share":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
                c.err((*path, key), _("'share: {value}' must be a fraction greater than 0 and at most 1, e.g. 0.6 "
                                      "(60% of the approvers)", value=value))
                return "all", 0, 0.0
            return "share", 0, float(value)
        hint = suggest(str(key), ("at_least", "share"))
        c.err(path, _("unknown mode '{{{key}: ...}}'; {fix}", key=key, fix=_did_you_mean(hint) if hint
                      else _("use {at_least: N} or {share: 0.6}")))
        return "all", 0, 0.0
    if isinstance(mode, str) and mode in ("all", "any", "sequence"):
        return mode, 0, 0.0
    hint = suggest(str(mode), ("all", "any", "sequence", "at_least", "share"))
    fix = _did_you_mean(hint) if hint in ("all", "any", "sequence") else (
        _did_you_mean(f"{{{hint}: N}}") if hint
        else _("use all (会签), any (或签), sequence (依次), {at_least: N} or {share: 0.6}"))
    c.err(path, _("unknown mode '{mode}'; {fix}", mode=mode, fix=fix))
    return "all", 0, 0.0


def _party_field(c: ProcedureChecker, value: Any, path: YamlPath, sid: str, need: str) -> str | None:
    """A ``STEP.FIELD`` an approver is read from; whether it is recorded before the step, and
    a user field (``need``: ``user``) or text, is checked with the expressions."""
    if not isinstance(value, str) or not _FIELD_REF.match(value):
        c.err(path, _("expected a field recorded earlier, as STEP.FIELD (e.g. start.approver)"))
        return None
    c.party_fields.append((sid, value, path, need))
    return value


def _flag(c: ProcedureChecker, node: Mapping[str, Any], key: str, path: YamlPath, meaning: str) -> bool | None:
    if key not in node:
        return None
    if not isinstance(node[key], bool):
        c.err((*path, key), _("'{key}' is true or false: {meaning}", key=key, meaning=meaning))
        return None
    return bool(node[key])


def _parse_actions(c: ProcedureChecker, sid: str, node: Mapping[str, Any], roles: Mapping[str, str],
                   step_ids: list[str], path: YamlPath) -> dict[str, Any]:
    """The task actions of a person's step: transfer, return_to, resume, recall, cc, cc_add."""
    kw: dict[str, Any] = {}
    for key, meaning in (("transfer", _("whether the holder may hand the task to another holder of its role "
                                        "(default true)")),
                         ("recall", _("whether whoever completed the step may take it back while the next "
                                      "step is untouched (default false)")),
                         ("cc_add", _("whether the person working on the step may send the instance to "
                                      "others to read (default false)"))):
        flag = _flag(c, node, key, path, meaning)
        if flag is not None:
            kw[key] = flag
    if "return_to" in node:
        raw = node["return_to"]
        raw = [raw] if isinstance(raw, str) else raw
        if not isinstance(raw, list) or not raw:
            c.err((*path, "return_to"), _("'return_to' lists the earlier steps this one may send the instance "
                                          "back to, e.g. [analyse]"))
        else:
            kw["return_to"] = tuple(t for i, x in enumerate(raw)
                                    if (t := c.ref(x, step_ids, (*path, "return_to", i), "step")))
    if "resume" in node:
        value = node["resume"]
        if value not in RESUME_CHOICES:
            c.err((*path, "resume"), _("'resume' is again (after a return the path is walked again, the "
                                       "default), here (the returned step comes straight back here) or "
                                       "choose (whoever returns chooses)"))
        elif "return_to" not in node:
            c.err((*path, "resume"), _("'resume' says how a return comes back; add 'return_to: [STEP]' or "
                                       "remove it"))
        else:
            kw["resume"] = value
    if "cc" in node:
        raw = node["cc"]
        raw = [raw] if isinstance(raw, str) else raw
        if not isinstance(raw, list) or not raw:
            c.err((*path, "cc"), _("'cc' lists who is sent the instance to read when this step is completed: "
                                   "role ids or user:NAME, e.g. [sales_manager, user:zhang3]"))
        else:
            out = []
            for i, x in enumerate(raw):
                if isinstance(x, str) and x.startswith("user:"):
                    if not x[5:].strip():
                        c.err((*path, "cc", i), _("'user:' needs a user name after it, e.g. user:zhang3"))
                    else:
                        out.append(x)
                elif (r := c.ref(x, roles, (*path, "cc", i), "role")):
                    out.append(r)
            kw["cc"] = tuple(out)
    return kw


def _check_returns(c: ProcedureChecker, steps: Mapping[str, Step], start: str) -> None:
    """``return_to`` names steps that come before (the returned step can lead here), that a
    person works on, and that no parallel branch holds (a return closes every open task)."""
    preds: dict[str, set[str]] = {s: set() for s in steps}
    for step in steps.values():
        for t in step.targets:
            if t in preds:
                preds[t].add(step.id)
    inside: set[str] = set()
    for s in steps.values():
        if s.type != "parallel" or not s.join:
            continue
        todo = list(s.branches)
        while todo:
            x = todo.pop()
            if x == s.join or x in inside or x not in steps:
                continue
            inside.add(x)
            todo.extend(steps[x].targets)
    for step in steps.values():
        if not step.return_to:
            continue
        before: set[str] = set()
        todo = list(preds[step.id])
        while todo:
            x = todo.pop()
            if x in before:
                continue
            before.add(x)
            todo.extend(preds[x])
        for i, target in enumerate(step.return_to):
            where = ("steps", step.id, "return_to", i)
            if target == step.id:
                c.err(where, _("step '{step}' cannot return to itself; name an earlier step", step=step.id))
            elif target not in before:
                earlier = sorted(t for t in before if steps[t].is_human)
                c.err(where, _("'{target}' does not come before '{step}', so nothing can be returned to it; "
                               "return_to names earlier steps on the path here ({steps})", target=target,
                               step=step.id, steps=", ".join(earlier)) if earlier
                      else _("'{target}' does not come before '{step}', so nothing can be returned to it; "
                             "return_to names earlier steps on the path here", target=target, step=step.id))
            elif not steps[target].is_human:
                c.err(where, _("'{target}' is a {kind}; a return re-opens a task or approval step for someone "
                               "to do again", target=target, kind=_type_name(steps[target].type)))
            elif target in inside:
                c.err(where, _("'{target}' is inside a parallel branch; a return closes every open task, so "
                               "return to a step before the parallel step", target=target))


def _check_graph(c: ProcedureChecker, steps: Mapping[str, Step], start: str) -> None:
    def targets(step: Step) -> list[str]:
        return [*step.targets, *sorted(c.unparsed_links.get(step.id, ()))]

    reach: set[str] = set()
    todo = [start]
    while todo:
        s = todo.pop()
        if s in reach or s not in steps:
            continue
        reach.add(s)
        todo.extend(targets(steps[s]))
    for sid in steps:
        if sid not in reach:
            c.err(("steps", sid), _("step '{sid}' cannot be reached from the start step '{start}'; link to it "
                                    "with 'next' or remove it", sid=sid, start=start), key=True)
    preds: dict[str, set[str]] = {s: set() for s in steps}
    for step in steps.values():
        for t in targets(step):
            if t in preds:
                preds[t].add(step.id)
    ends = [s for s in steps.values() if s.type == "end"]
    if not ends:
        c.err(("steps",), _("the procedure has no end step; add a step with 'type: end' and an outcome"), key=True)
        return
    alive: set[str] = set()
    todo = [e.id for e in ends]
    while todo:
        s = todo.pop()
        if s in alive:
            continue
        alive.add(s)
        todo.extend(preds[s])
    for sid in steps:
        if sid in reach and sid not in alive:
            c.err(("steps", sid), _("step '{sid}' has no path to an end step; every instance passing here would "
                                    "never finish", sid=sid), key=True)
    # A loop made only of automatic steps would spin forever without waiting for anyone.
    auto = {s.id for s in steps.values() if s.type in ("decision", "join", "spawn")}
    for sid in auto:
        seen, todo = set(), [t.target for t in steps[sid].next]
        while todo:
            s = todo.pop()
            if s == sid:
                c.err(("steps", sid), _("step '{sid}' can loop back to itself through automatic steps only; put a "
                                        "task or wait step in the loop", sid=sid), key=True)
                break
            if s in seen or s not in auto:
                continue
            seen.add(s)
            todo.extend(t.target for t in steps[s].next)


def _check_parallel(c: ProcedureChecker, steps: Mapping[str, Step]) -> None:
    joins_named: dict[str, str] = {}
    for s in steps.values():
        if s.type != "parallel" or not s.join:
            continue
        if steps[s.join].type != "join":
            c.err(("steps", s.id, "join"), _("'{join}' is a {kind}, not a join step; set 'type: join' on it",
                                             join=s.join, kind=_type_name(steps[s.join].type)))
            continue
        if s.join in joins_named:
            c.err(("steps", s.id, "join"), _("join '{join}' already closes parallel step '{other}'; each parallel "
                                             "step needs its own join", join=s.join, other=joins_named[s.join]))
            continue
        joins_named[s.join] = s.id
        for i, b in enumerate(s.branches):
            seen, todo, found = set(), [b], False
            ends: list[str] = []
            while todo:
                x = todo.pop()
                if x == s.join:
                    found = True
                    continue
                if x in seen or x not in steps:
                    continue
                seen.add(x)
                if steps[x].type == "end":
                    if not steps[x].ends_instance and x not in ends:
                        ends.append(x)
                    continue
                todo.extend(steps[x].targets)
            if not found:
                c.err(("steps", s.id, "branches"), _("branch '{branch}' of parallel step '{sid}' never reaches its "
                                                     "join '{join}'", branch=b, sid=s.id, join=s.join))
            else:
                for end in ends:
                    c.err(("steps", s.id, "branches", i), _(
                        "branch '{branch}' of parallel step '{sid}' can reach the end step '{end}' before its "
                        "join '{join}': that would close the whole instance while the other branches are "
                        "still open; lead it to '{join}', or write 'ends_instance: true' on '{end}' if "
                        "ending everything there is meant", branch=b, sid=s.id, end=end, join=s.join))
    for s in steps.values():
        if s.type == "join" and s.id not in joins_named:
            c.err(("steps", s.id), _("join step '{sid}' has no matching parallel step; name it in a parallel "
                                     "step's 'join:'", sid=s.id), key=True)


def _form_fields(c: ProcedureChecker, form_id: str | None) -> list[str]:
    form = c.forms.get(form_id) if form_id else None
    return list(form.fields) if form is not None else []


def _check_expressions(c: ProcedureChecker, steps: Mapping[str, Step], start: str, start_form: str | None) -> None:
    """Every name in an expression must be a field recorded by a step that can come before."""
    preds: dict[str, set[str]] = {s: set() for s in steps}
    for step in steps.values():
        for t in step.targets:
            if t in preds:
                preds[t].add(step.id)
    own_fields: dict[str, list[str]] = {}
    for s in steps.values():
        fields = _form_fields(c, s.form)
        if s.type == "approval":
            fields += list(APPROVAL_FIELDS) + (list(PARTY_FIELDS) if s.approvers else [])
        own_fields[s.id] = fields
    base = {f"start.{f}" for f in _form_fields(c, start_form)} | set(INSTANCE_FIELDS)
    # A step whose form is unknown (reported once, at its 'form:') takes any field: naming its
    # fields is not a second mistake, and listing each would bury the first.
    blind = c.formless
    base |= blind & {"start"}
    cache: dict[str, set[str]] = {}

    def before(sid: str) -> set[str]:
        if sid not in cache:
            seen, todo = set(), list(preds[sid])
            while todo:
                x = todo.pop()
                if x in seen:
                    continue
                seen.add(x)
                todo.extend(preds[x])
            cache[sid] = seen
        return cache[sid]

    kinds = procedure_kinds(c.forms, steps, start_form)
    _check_computed_refs(c, steps, start_form, base, own_fields, before, kinds)
    _check_field_refs(c, steps, start_form, before)
    for sid, expr, path, when in c.exprs:
        visible = before(sid) | ({sid} if when == "next" else set())
        known = set(base)
        for v in visible:
            known.update(f"{v}.{f}" for f in own_fields.get(v, ()))
        known |= blind & visible
        line, col = c.src.where(path)
        names = check_names(expr, known)
        for name, message in names:
            idx = expr.source.find(name)
            c.problems.append(Problem(c.src.file, line, col + max(idx, 0), message))
        if names:
            continue  # one root error: a misspelt name has no type to check
        result, typos = result_kind(expr.source, kinds)
        for offset, message in typos:
            c.problems.append(Problem(c.src.file, line, col + offset, message))
        if not typos:
            problem = _result_problem(str(path[-1]), result)
            if problem:
                c.problems.append(Problem(c.src.file, line, col, problem))
    if c.party_fields:
        _check_party_fields(c, steps, start_form, base, own_fields, before)


def _check_party_fields(c: ProcedureChecker, steps: Mapping[str, Step], start_form: str | None, base: set[str],
                        own_fields: Mapping[str, list[str]], before: Callable[[str], set[str]]) -> None:
    """Approvers read from the record: a field recorded before the step, a user field
    (``x-widget: user``) for a person, text for a department."""
    infos = {name: info for name, info in _record_fields(c, steps, start_form).items()}
    for sid, name, path, need in c.party_fields:
        known = {k for k in base if not k.startswith("instance.")}
        for v in before(sid):
            known.update(f"{v}.{f}" for f in own_fields.get(v, ()))
        line, col = c.src.where(path)
        if name not in known:
            hint = suggest(name, sorted(known))
            fix = _did_you_mean(hint) if hint else _("record it in the start form or a step before this one")
            c.problems.append(Problem(c.src.file, line, col,
                                      _("'{name}' is not a field recorded before step '{sid}'; {fix}",
                                        name=name, sid=sid, fix=fix)))
            continue
        info = infos.get(name)
        if need == "user" and (info is None or info.widget != "user" or info.type != "string"):
            c.problems.append(Problem(c.src.file, line, col, _(
                "'{name}' is not a user field, so it names no approver; give it 'x-widget: user' "
                "(type: string) in its form, or name another field", name=name)))
        elif need == "text" and (info is None or info.type != "string"):
            c.problems.append(Problem(c.src.file, line, col, _(
                "'{name}' is not a text field, so it names no department; use a text field holding the "
                "department's id or name", name=name)))


def _check_computed_refs(c: ProcedureChecker, steps: Mapping[str, Step], start_form: str | None,
                         base: set[str], own_fields: Mapping[str, list[str]],
                         before: Callable[[str], set[str]], kinds: Mapping[str, Kind]) -> None:
    """A form's computed fields (``x-compute``) that read earlier steps' fields: each such
    name must be recorded by a step that can come before every step using the form."""
    users: list[tuple[str, str | None, YamlPath]] = [("start", start_form, ("start", "form"))]
    users += [(s.id, s.form, ("steps", s.id, "form")) for s in steps.values()]
    for sid, form_id, path in users:
        form = c.forms.get(form_id) if form_id else None
        if form is None or not form.external_names:
            continue
        known = set(base) if sid != "start" else set(INSTANCE_FIELDS)
        if sid != "start":
            for v in before(sid):
                known.update(f"{v}.{f}" for f in own_fields.get(v, ()))
        own = {k.split(".", 1)[1]: replace(v, name=k.split(".", 1)[1])
               for k, v in form_kinds(form.schema, "_").items()}
        hidden = set(steps[sid].hide) if sid in steps else set()
        for comp in form.computed:
            if not comp.external:
                continue
            for name in sorted(comp.external):
                shown = next((h for h in hidden if name == h or name.startswith(h + ".")), None)
                if shown:
                    c.err(path, _("form '{form}' computes '{name}' from '{field}', which step '{sid}' "
                                  "hides: the computed value would show it; remove it from 'hide' or from the "
                                  "expression", form=form_id, name=comp.name, field=shown, sid=sid))
            problems = check_names(compile_expr(" + ".join(sorted(comp.external))), known)
            for name, message in problems:
                c.err(path, _("form '{form}' computes '{name}' from '{field}', which is not "
                              "recorded before step '{sid}': {message}", form=form_id, name=comp.name,
                              field=name, sid=sid, message=message))
            if problems:
                continue
            _result, typos = result_kind(comp.expr.source, {**kinds, **own})
            for _offset, message in typos:
                c.err(path, _("form '{form}', computed field '{name}': {message}", form=form_id, name=comp.name,
                              message=message))


def procedure_kinds(forms: Mapping[str, Form], steps: Mapping[str, Step], start_form: str | None) -> dict[str, Kind]:
    """Every ``STEP.FIELD`` of a procedure with its type and choices (for the type checks)."""
    kinds: dict[str, Kind] = {
        "instance.id": Kind("text"), "instance.started_by": Kind("text"),
        "instance.procedure": Kind("text"),
        "instance.started_at": Kind("text", "date-time", name="instance.started_at"),
    }
    for sid, form_id in [("start", start_form), *((s.id, s.form) for s in steps.values())]:
        form = forms.get(form_id) if form_id else None
        if form is not None:
            kinds.update(form_kinds(form.schema, sid))
    for s in steps.values():
        if s.type == "approval":
            kinds.update(approval_kinds(s.id, APPROVAL_DECISIONS, party=s.approvers is not None))
    return kinds


def _result_problem(key: str, k: Kind) -> str | None:
    """What a wait or deadline expression must give: a date (or date-time), or a duration text."""
    if key in ("until", "due_expr"):
        what = _("the wait's 'until'") if key == "until" else _("'due_expr'")
        if k.kind in ("number", "boolean", "list", "object", "duration", "none"):
            return _("{what} must give a date or date-time, but this gives {kind}; "
                     "use a date field, or e.g. date(STEP.FIELD) + days(3)", what=what, kind=_kind_words(k))
        if k.kind == "text" and k.name and k.fmt is None:
            return _("{what} must give a date, but '{name}' is free text; make it a date field "
                     "(format: date or date-time) in its form", what=what, name=k.name)
    if key == "within_expr":
        if k.kind in ("number", "boolean", "list", "object", "date", "datetime"):
            return _("'within_expr' must give a duration text such as \"24h\" or \"3wd\", but this gives "
                     "{kind}; for a fixed date use 'due_expr'", kind=_kind_words(k))
        if k.kind == "duration":
            return _("'within_expr' must give a duration text such as \"24h\" or \"3wd\"; days(3) is a "
                     "time span for date arithmetic: write \"3d\", or use 'due_expr: now() + days(3)'")
    return None


def _kind_words(k: Kind) -> str:
    from engine.language.expr_types import _describe

    return _("'{name}', {kind}", name=k.name, kind=_describe(k)) if k.name else _describe(k)
