"""The form model: a parsed form, its fields and what it does with a submission."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.language.english import English, shown_schema
from engine.language.forms import computed as _computed
from engine.language.forms import limits as _limits
from engine.language.forms import visibility
from engine.language.forms.schema import (
    Schema,
    default_widget,
    limits_of,
    sensitive_below,
    single_type,
)
from engine.language.forms.submission import SubmissionValidator

if TYPE_CHECKING:
    from engine.errors import FieldError


@dataclass(frozen=True)
class FieldInfo:
    """One field of a form, addressed by its dotted path (``contact.phone``).

    ``required`` is relative to the enclosing object; a field with ``visible_if`` is
    required only while visible. ``limits`` is ``(min, max)``, either side may be None.
    """

    path: str
    type: str | None
    title: str
    widget: str
    unit: str | None = None
    limits: tuple[float | None, float | None] | None = None
    enum: list[Any] | None = None
    required: bool = False
    sensitive: bool = False
    visible_if: str | None = None
    # Where below this field sensitive values sit (``x-sensitive: true`` on a property of
    # a group or of a table's rows), as paths from the form's top: ``contacts[].phone``
    # (that cell of every row), ``address.mobile``, ``phones[]`` (every item of a list).
    sensitive_within: tuple[str, ...] = ()
    # ``x-compute``: the expression the server computes the value from (read-only in forms).
    compute: str | None = None


class Form:
    """A parsed form; immutable once built. Build it with :func:`parse_form` or :func:`load_form`."""

    __slots__ = (
        "id",
        "title",
        "description",
        "schema",
        "source_file",
        "fields",
        "_submissions",
        "_vis",
        "_order",
        "_widgets",
        "_limits",
        "computed",
        "english",
        "_shown",
    )

    def __init__(
        self,
        id: str,
        title: str,
        description: str,
        schema: Schema,
        source_file: str,
        expressions: visibility.Expressions,
        computed: Mapping[str, _computed.Computed] | None = None,
        english: English | None = None,
    ) -> None:
        self.id = id
        self.title = title
        self.description = description
        self.schema = schema
        self.source_file = source_file
        self._order: dict[str, int] = {}
        self._widgets: dict[str, str] = {}
        self._limits: list[_limits.Limit] = []
        self.fields: dict[str, FieldInfo] = {}
        self._collect(schema, (), True)
        self._vis = visibility.build(schema, expressions)
        self._submissions = SubmissionValidator(schema, self._vis, self._order, self._widgets)
        #: The computed fields (``x-compute``) in the order they are worked out.
        self.computed: tuple[_computed.Computed, ...] = tuple(_computed.order(dict(computed or {}))[0])
        #: The file's optional ``en:`` block (engine.language.english): English titles.
        self.english = english
        self._shown: Schema | None = None

    def __repr__(self) -> str:
        return f"<Form {self.id} ({len(self.fields)} fields) from {self.source_file}>"

    def shown_schema(self, locale: str) -> Schema:
        """The schema as a page in ``locale`` shows it: in English, the titles, descriptions
        and choice labels (``x-labels``) of the ``en:`` block; else the schema itself. Only for
        showing: submissions are parsed and checked against :attr:`schema`."""
        if locale != "en" or self.english is None:
            return self.schema
        if self._shown is None:
            self._shown = shown_schema(self.schema, self.english)
        return self._shown

    def field_title(self, path: str, locale: str) -> str:
        """A field's title in ``locale`` (English where the ``en:`` block gives it)."""
        info = self.fields.get(path)
        written = info.title if info else path
        if locale == "en" and self.english is not None:
            texts = self.english.parts.get(path)
            return (texts.title if texts else "") or written
        return written

    # ----------------------------------------------------------------- construction

    def _collect(self, schema: Schema, spath: tuple[str, ...], top: bool) -> None:
        """Field order, widgets and limits of every schema path; FieldInfo for public paths."""
        props = schema.get("properties")
        if not isinstance(props, dict):
            return
        required = schema.get("required")
        if not isinstance(required, list):
            required = []
        for name, sub in props.items():
            if not isinstance(sub, dict):
                continue
            path = (*spath, name)
            dotted = ".".join(path)
            self._order[dotted] = len(self._order)
            widget = sub.get("x-widget") or default_widget(sub)
            self._widgets[dotted] = widget
            limits = limits_of(sub)
            if limits:
                self._limits.append((path, limits[0], limits[1], str(sub.get("x-unit") or "")))
            if top:
                enum = sub.get("enum")
                if (
                    enum is None
                    and single_type(sub) == "array"
                    and isinstance(sub.get("items"), dict)
                ):
                    enum = sub["items"].get("enum")
                vis = sub.get("x-visible-if")
                comp = sub.get("x-compute") if not spath else None
                self.fields[dotted] = FieldInfo(
                    path=dotted,
                    type=single_type(sub),
                    title=str(sub.get("title") or name),
                    widget=widget,
                    unit=str(sub["x-unit"]) if sub.get("x-unit") is not None else None,
                    limits=limits,
                    enum=list(enum) if isinstance(enum, list) else None,
                    required=name in required,
                    sensitive=sub.get("x-sensitive") is True,
                    visible_if=vis if isinstance(vis, str) else None,
                    sensitive_within=tuple(sensitive_below(sub, dotted)),
                    compute=comp if isinstance(comp, str) else None,
                )
            if isinstance(sub.get("properties"), dict):
                self._collect(sub, path, top)
            items = sub.get("items")
            if isinstance(items, dict):
                self._collect_items(items, path)

    def _collect_items(self, items: Schema, path: tuple[str, ...]) -> None:
        limits = limits_of(items)
        if limits:
            self._limits.append(
                ((*path, "*"), limits[0], limits[1], str(items.get("x-unit") or ""))
            )
        if isinstance(items.get("properties"), dict):
            self._collect(items, path, False)
        inner = items.get("items")
        if isinstance(inner, dict):
            self._collect_items(inner, path)

    def has_widget(self, widget: str, under: str = "") -> bool:
        """Whether a field of the form (or, given ``under``, that field or one inside it, a
        group's or a table's) is shown with ``widget``."""
        return any(w == widget and (not under or path == under or path.startswith(under + "."))
                   for path, w in self._widgets.items())

    def values_with_widget(self, widget: str, data: Any, under: str = "") -> list[tuple[str, Any]]:
        """Every value of ``data`` held by a field shown with ``widget`` (also in a group
        or a table row), as ``(path, value)`` with the path pages and the API name
        (``inspector``, ``visits.0.owner``); ``under``: ``data`` is the value of that field
        (a correction's), and the paths start with it."""
        out: list[tuple[str, Any]] = []
        walked: list[tuple[str, str, Any]] = []  # (schema path, data path, value)
        if under:
            walked.append((under, under, data))
        elif isinstance(data, dict):
            walked.extend((k, k, v) for k, v in data.items())
        while walked:
            spath, dpath, value = walked.pop(0)
            found = self._widgets.get(spath)
            if found is None:
                continue
            if found == widget:
                out.append((dpath, value))
            elif isinstance(value, dict):
                walked.extend((f"{spath}.{k}", f"{dpath}.{k}", v) for k, v in value.items())
            elif isinstance(value, list):
                walked.extend((f"{spath}.{k}", f"{dpath}.{i}.{k}", v)
                              for i, row in enumerate(value) if isinstance(row, dict) for k, v in row.items())
        return out

    # ----------------------------------------------------------------- submissions

    def clean(self, data: visibility.Data) -> visibility.Data:
        """The data to store: ``data`` without the fields that ``x-visible-if`` hides.

        Visibility is evaluated on the submitted data, the fields of the same object (the
        row, for table rows) being the names. ``data`` itself is not modified.
        """
        if self._vis is None or not isinstance(data, dict):
            return data
        return visibility.clean_object(self._vis, data, (), None)

    def compute(self, data: visibility.Data, context: Mapping[str, Any] | None = None) -> visibility.Data:
        """The submission with its computed fields (``x-compute``) worked out by the server:
        what the client sent for them is dropped and replaced. ``context`` holds what the
        expressions may read besides the form (earlier steps' data, ``instance``, the clock).
        Computed once on the data as sent (a field's ``x-visible-if`` may read a computed
        value), then again on the data without hidden fields, so hidden values never count."""
        if not self.computed or not isinstance(data, dict):
            return data
        own = frozenset(self.schema.get("properties") or ())
        first = _computed.compute(list(self.computed), data, context, own)
        if self._vis is None:
            return first
        return _computed.compute(list(self.computed), self.clean(first), context, own)

    @property
    def client_schema(self) -> Schema:
        """The schema as clients fill it: computed fields marked ``readOnly`` (the server
        works them out and ignores what is sent) and never ``required``."""
        if not self.computed:
            return self.schema
        names = {c.name for c in self.computed}
        props = {k: ({**v, "readOnly": True} if k in names and isinstance(v, dict) else v)
                 for k, v in (self.schema.get("properties") or {}).items()}
        out = {**self.schema, "properties": props}
        if isinstance(self.schema.get("required"), list):
            out["required"] = [r for r in self.schema["required"] if r not in names]
        return out

    @property
    def external_names(self) -> frozenset[str]:
        """Dotted names of earlier steps' fields that computed fields read."""
        return frozenset().union(*(c.external for c in self.computed))

    def initial(self) -> dict[str, Any]:
        """What a new form shows before anyone types: the ``default`` each field declares
        (also inside groups). Table rows and files start empty."""
        return _defaults(self.schema)

    def validate(self, data: visibility.Data, locale: str = "zh") -> list[FieldError]:
        """Every problem of a submission as ``{"field", "message"}``; ``[]`` when valid.

        ``field`` is a dotted path (``items.2.measured``), ``""`` for the form as a whole;
        ``message`` is for operators, in Chinese (``zh``) or English (``en``).
        """
        return self._submissions.validate(data, locale)

    def check(self, data: visibility.Data, locale: str = "zh") -> tuple[list[FieldError], visibility.Data]:
        """:meth:`validate` and :meth:`clean` in one pass over the submission: the problems
        (``[]`` when valid) and the data to store. The runtime's path for each submission."""
        return self._submissions.check(data, locale)

    @property
    def sensitive_paths(self) -> frozenset[str]:
        """Every sensitive value of the form: its fields marked ``x-sensitive: true`` and the
        marked values below them (``FieldInfo.sensitive_within``: ``contacts[].phone``)."""
        return frozenset(path for path, info in self.fields.items() if info.sensitive).union(
            *(info.sensitive_within for info in self.fields.values()))

    def out_of_limits(self, data: visibility.Data, locale: str = "zh") -> list[_limits.LimitFlag]:
        """Numbers outside their ``x-limits`` (table rows included): flags, not errors.

        Each is ``{"field", "message", "value", "min", "max"}``. Pass the cleaned data.
        """
        return _limits.out_of_limits(self._limits, self._order, data, locale)


def _defaults(schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    props = schema.get("properties")
    if not isinstance(props, dict):
        return out
    for key, sub in props.items():
        if not isinstance(sub, dict):
            continue
        if "default" in sub:
            out[key] = sub["default"]
        elif isinstance(sub.get("properties"), dict):
            inner = _defaults(sub)
            if inner:
                out[key] = inner
    return out
