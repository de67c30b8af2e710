"""What a procedure declares about its records for auditors and managers: the ledger (台帐)
columns, the extra searchable fields, and the KPIs to break down by. Pure: no I/O.

The procedure file says, at the top level::

    ledger:
      title: 检验台帐
      columns:
        - {field: instance.id, title: 编号}
        - {field: start.serial_no, title: 产品编号}
    index: [start.model]                       # also searchable in the audit search
    # a sensitive (x-sensitive) field is searchable only by cleared readers, and says so:
    #   index: [{field: start.contact_phone, clearance: true}]
    kpis:
      breakdown: [report.conclusion]           # counts per value (enum fields)
      first_pass: {field: inspect.verdict, pass: 合格}
      scores:                                  # a score table, e.g. the 4 x 4 survey
        fields: [survey.rating_attitude, survey.rating_skill]
        values: {很满意: 4, 满意: 3, 基本满意: 2, 不满意: 1}

Form fields are named ``STEP.FIELD`` (``start.FIELD`` for the start form) as in expressions;
every such field is copied into the store's field index when it is written, which is what
makes the ledger, the search and the KPIs fast without reading instance JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from engine.i18n import _
from engine.language.expressions import no_start_form
from engine.language.suggest import suggest

if TYPE_CHECKING:
    from engine.language.forms import FieldInfo
    from engine.language.yaml_source import Path


class ReportProblem(Protocol):
    """Where problems go: ``err(path, message, key=False)`` reports one at a YAML path."""

    def __call__(self, path: Path, message: str, *, key: bool = False) -> None: ...


class _FieldRef(Protocol):
    def __call__(
        self, value: Any, path: Path, *, instance: bool = False, scalar: bool = True,
        counted: bool = False,
    ) -> str | None: ...

# Columns of the instance row itself, usable as ledger columns.
INSTANCE_COLUMNS = {
    "instance.id": "编号", "instance.serial": "流水号", "instance.procedure": "流程", "instance.status": "状态",
    "instance.outcome": "结果", "instance.started_at": "登记时间",
    "instance.started_by": "发起人", "instance.ended_at": "结束时间",
}
#: The instance columns that hold instants (shown in local time, the zone named in exports).
INSTANCE_TIMES = frozenset({"instance.started_at", "instance.ended_at"})
RECORD_KEYS = ("ledger", "index", "kpis")
FIRST = "@first"  # suffix of the index key that keeps the first value ever recorded


@dataclass(frozen=True)
class Column:
    field: str
    title: str

    @property
    def is_instance(self) -> bool:
        return self.field.startswith("instance.")


@dataclass(frozen=True)
class Ledger:
    title: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class FirstPass:
    field: str
    passed: str


@dataclass(frozen=True)
class Scores:
    fields: tuple[str, ...]
    values: tuple[tuple[str, float], ...]  # (label, score), in the order written


@dataclass(frozen=True)
class Records:
    ledger: Ledger | None = None
    index: tuple[str, ...] = ()
    breakdown: tuple[str, ...] = ()
    first_pass: FirstPass | None = None
    scores: Scores | None = None
    titles: Mapping[str, str] = field(default_factory=dict)  # field -> its form title

    @cached_property  # asked on every write: computed once per procedure version
    def indexed(self) -> frozenset[str]:
        """Every ``STEP.FIELD`` the store keeps in its field index."""
        keys = set(self.index) | set(self.breakdown)
        if self.ledger:
            keys |= {c.field for c in self.ledger.columns if not c.is_instance}
        if self.first_pass:
            keys.add(self.first_pass.field)
        if self.scores:
            keys |= set(self.scores.fields)
        return frozenset(keys)

    @cached_property
    def first_keys(self) -> frozenset[str]:
        """Fields whose first recorded value is also kept (as ``KEY@first``)."""
        return frozenset({self.first_pass.field} if self.first_pass else ())

    @cached_property
    def kpi_keys(self) -> frozenset[str]:
        """Field-index keys whose values the dashboard counts: breakdowns, score fields and
        the first value of the first-pass field."""
        keys = set(self.breakdown) | set(self.scores.fields if self.scores else ())
        if self.first_pass:
            keys.add(self.first_pass.field + FIRST)
        return frozenset(keys)

    def title_of(self, key: str) -> str:
        return self.titles.get(key) or INSTANCE_COLUMNS.get(key) or key


def parse_records(raw: Mapping[str, Any], fields: Mapping[str, FieldInfo],
                  err: ReportProblem, *, blind: frozenset[str] = frozenset()) -> Records:
    """Read ``ledger``, ``index`` and ``kpis`` from the top of a procedure.

    ``fields`` maps every ``STEP.FIELD`` a step's form records to its ``FieldInfo``;
    ``err(path, message, key=False)`` reports a problem at a YAML path (at its key); a field
    of a step in ``blind`` (its form is unknown, reported where it is named) is not checked.
    """
    titles: dict[str, str] = {}

    def sensitive(key: str) -> bool:
        """Marked itself or inside a group marked as a whole (``start.site.mobile``)."""
        parts = key.split(".")
        return any((info := fields.get(".".join(parts[:n]))) is not None and info.sensitive
                   for n in range(2, len(parts) + 1))

    def ref(value: Any, path: Path, *, instance: bool = False, scalar: bool = True,
            counted: bool = False) -> str | None:
        known = list(fields) + (list(INSTANCE_COLUMNS) if instance else [])
        if not isinstance(value, str) or not value:
            err(path, _("expected a field as STEP.FIELD (start.FIELD for the start form) or instance.COLUMN")
                if instance else _("expected a field as STEP.FIELD (start.FIELD for the start form)"))
            return None
        if value not in known:
            if value.partition(".")[0] in blind:
                return None
            if value.startswith("start.") and not any(k.startswith("start.") for k in known):
                err(path, no_start_form(value))
                return None
            hint = suggest(value, known)
            err(path, _("unknown field '{name}'; did you mean '{hint}'?", name=value, hint=hint) if hint
                else _("unknown field '{name}'; name a field of a step's form as STEP.FIELD", name=value))
            return None
        info = fields.get(value)
        if info is not None:
            if scalar and info.type in ("array", "object"):
                err(path, _("'{name}' is an {type}; only single values (text, number, date, choice) can be "
                            "listed, searched or counted", name=value, type=info.type))
                return None
            titles[value] = info.title
        if counted and sensitive(value):
            # Counts per value list every value to whoever reads the dashboard.
            err(path, _("'{name}' is sensitive (x-sensitive): counting by it would show its values "
                        "to everyone who reads the dashboard; count by a field that is not sensitive", name=value))
            return None
        return value

    ledger = _ledger(raw.get("ledger"), ref, err, titles) if "ledger" in raw else None
    index: list[str] = []
    node = raw.get("index")
    if node is not None:
        if not isinstance(node, list):
            err(("index",), _("'index' lists fields to make searchable, e.g. [start.serial_no]"))
        else:
            for i, v in enumerate(node):
                if (k := _index_entry(v, ("index", i), ref, sensitive, err)):
                    index.append(k)
    breakdown: list[str] = []
    first_pass = scores = None
    node = raw.get("kpis")
    if node is not None:
        if not isinstance(node, dict):
            err(("kpis",), _("'kpis' is a mapping with breakdown, first_pass and scores"))
        else:
            _keys(node, ("breakdown", "first_pass", "scores"), ("kpis",), _("'{name}'", name="kpis"), err)
            b = node.get("breakdown")
            if b is not None and not isinstance(b, list):
                err(("kpis", "breakdown"), _("'breakdown' lists choice fields to count by, e.g. [register.category]"))
            for i, v in enumerate(b if isinstance(b, list) else []):
                if (k := ref(v, ("kpis", "breakdown", i), counted=True)):
                    breakdown.append(k)
            if "first_pass" in node:
                first_pass = _first_pass(node["first_pass"], ref, err, fields)
            if "scores" in node:
                scores = _scores(node["scores"], ref, err, fields)
    return Records(ledger=ledger, index=tuple(index), breakdown=tuple(breakdown),
                   first_pass=first_pass, scores=scores, titles=titles)


def _index_entry(node: Any, path: Path, ref: _FieldRef, sensitive: Any, err: ReportProblem) -> str | None:
    """One entry of ``index``: ``STEP.FIELD``, or ``{field: STEP.FIELD, clearance: true}``
    for a sensitive field. Which instances hold a value tells the value, so a sensitive
    field is searchable only by cleared readers, and the procedure must say it knows."""
    cleared = False
    if isinstance(node, dict):
        _keys(node, ("field", "clearance"), path, _("an index entry"), err)
        cleared = node.get("clearance") is True
        if "clearance" in node and not isinstance(node["clearance"], bool):
            err((*path, "clearance"), _("'clearance' is true (only cleared readers may search this field) or false"))
        node = node.get("field")
        path = (*path, "field")
    key = ref(node, path)
    if key is not None and sensitive(key) and not cleared:
        err(path, _("'{name}' is sensitive (x-sensitive): a search by its value would tell the value, "
                    "so only cleared readers may search it; write {{field: {name}, clearance: true}} "
                    "to say so, or remove it from 'index'", name=key))
        return None
    return key


def _keys(node: Mapping[str, Any], allowed: tuple[str, ...], path: Path, what: str,
          err: ReportProblem) -> None:
    for key in node:
        if key not in allowed:
            hint = suggest(str(key), allowed)
            said = {"key": key, "what": what}
            message = (_("unknown key '{key}' in {what}; did you mean '{hint}'?", hint=hint, **said) if hint
                       else _("unknown key '{key}' in {what}; allowed here: {allowed}", allowed=", ".join(allowed), **said))
            err((*path, key), message, key=True)


def _ledger(node: Any, ref: _FieldRef, err: ReportProblem, titles: dict[str, str]) -> Ledger | None:
    if not isinstance(node, dict):
        err(("ledger",), _("'ledger' is a mapping: {title: 台帐名称, columns: [{field: STEP.FIELD, title: 列名}, ...]}"))
        return None
    _keys(node, ("title", "columns"), ("ledger",), _("'{name}'", name="ledger"), err)
    cols = node.get("columns")
    if not isinstance(cols, list) or not cols:
        err(("ledger", "columns") if "columns" in node else ("ledger",),
            _("'ledger.columns' must list at least one column, e.g. - {field: start.serial_no, title: 产品编号}"))
        return None
    out: list[Column] = []
    seen: set[str] = set()
    for i, col in enumerate(cols):
        path = ("ledger", "columns", i)
        if isinstance(col, str):
            col = {"field": col}
        if not isinstance(col, dict):
            err(path, _("each column is {field: STEP.FIELD, title: 列名} (title optional)"))
            continue
        _keys(col, ("field", "title"), path, _("a ledger column"), err)
        key = ref(col.get("field"), (*path, "field") if "field" in col else path, instance=True)
        if key is None:
            continue
        if key in seen:
            err((*path, "field"), _("column '{name}' is listed twice; remove one", name=key))
            continue
        seen.add(key)
        title = col.get("title")
        out.append(Column(key, str(title) if title is not None else titles.get(key) or INSTANCE_COLUMNS.get(key, key)))
    title = node.get("title")
    return Ledger(str(title) if title is not None else "", tuple(out)) if out else None


def _not_a_choice(value: Any, key: str, fields: Mapping[str, FieldInfo]) -> str | None:
    """Why ``value`` can never be recorded in the choice field ``key``, or None when it can
    (or the field has no list of choices to compare with)."""
    info = fields.get(key)
    choices = [str(c) for c in info.enum] if info is not None and info.enum else None
    if choices is None or str(value) in choices:
        return None
    # 合格 against 全部合格 / 有不合格: the nearest spelling would be a guess between opposites.
    within = [c for c in choices if str(value) in c]
    hint = within[0] if len(within) == 1 else None if within else suggest(str(value), choices)
    said = {"value": value, "name": key, "choices": ", ".join(choices)}
    return (_("'{value}' is not a choice of '{name}', so no record would ever count; did you mean "
              "'{hint}'? its choices are: {choices}", hint=hint, **said) if hint
            else _("'{value}' is not a choice of '{name}', so no record would ever count; its choices "
                   "are: {choices}", **said))


def _first_pass(node: Any, ref: _FieldRef, err: ReportProblem,
                fields: Mapping[str, FieldInfo]) -> FirstPass | None:
    path = ("kpis", "first_pass")
    if not isinstance(node, dict) or "field" not in node or "pass" not in node:
        err(path, _("'first_pass' is {field: STEP.FIELD, pass: VALUE}, e.g. {field: inspect.verdict, pass: 合格}"))
        return None
    _keys(node, ("field", "pass"), path, _("'{name}'", name="first_pass"), err)
    key = ref(node["field"], (*path, "field"), counted=True)
    if key and (why := _not_a_choice(node["pass"], key, fields)):
        # A misspelt passing answer shows a first-pass rate of 0 % on the dashboard, not an error.
        err((*path, "pass"), why)
        return None
    return FirstPass(key, str(node["pass"])) if key else None


def _scores(node: Any, ref: _FieldRef, err: ReportProblem, fields: Mapping[str, FieldInfo]) -> Scores | None:
    path = ("kpis", "scores")
    if not isinstance(node, dict):
        err(path, _("'scores' is {fields: [STEP.FIELD, ...], values: {LABEL: SCORE, ...}}"))
        return None
    _keys(node, ("fields", "values"), path, _("'{name}'", name="scores"), err)
    flds, vals = node.get("fields"), node.get("values")
    if not isinstance(flds, list) or not flds:
        err((*path, "fields") if "fields" in node else path,
            _("'scores.fields' lists the rated fields, e.g. [survey.rating_attitude]"))
        return None
    if not isinstance(vals, dict) or not vals:
        err((*path, "values") if "values" in node else path,
            _("'scores.values' maps each answer to its score, e.g. {很满意: 4, 满意: 3}"))
        return None
    values = []
    for label, score in vals.items():
        # YAML reads .nan and .inf as floats: no score an average can take.
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            err((*path, "values", label), _("the score of '{label}' must be a number", label=label))
        else:
            values.append((str(label), float(score)))
    if len(values) < len(vals):
        return None
    keys = [k for i, v in enumerate(flds) if (k := ref(v, (*path, "fields", i), counted=True))]
    if len(keys) < len(flds):
        return None
    # A label no rated field offers scores nothing: the table would leave that answer out.
    wrong = [(label, why) for label in vals for k in keys if (why := _not_a_choice(label, k, fields))]
    named: set[str] = set()
    for label, why in wrong:
        if label not in named:
            named.add(label)
            err((*path, "values", label), why, key=True)
    return None if wrong else Scores(tuple(keys), tuple(values))
