"""The organisation chart: departments (a tree, each with a head), each user's department
and manager. The runtime resolves approvers ("the starter's manager", "two levels up", "the
head of the department in start.dept") and escalations ``to: manager`` from one snapshot,
``engine.runtime.org.OrgChart``, that :func:`current_org` builds and caches here.

* **One rule of who someone's manager is**: ``OrgChart.manager_of`` — the manager recorded
  for the user, else the head of their department (or of the one above, for its own head).
  Inactive users are never a manager or a head in the snapshot: a deactivated manager is
  passed over for the department head, and an inactive head for the head above.
* **Cache**: the ``org_state`` row's stamp changes with every change of the chart; each
  ``current_org`` reads that one row (a prepared primary-key read) and rebuilds the
  snapshot only when the stamp is new, so a change is seen by the very next apply, in every
  process.
* **Changes** (the CSV import, a user's department and manager, a department added,
  renamed, moved or given a head) are for administrators (role ``admin``) and the command
  line; each is checked as a whole chart (tree without loops, known users, managers without
  loops) and recorded as an ``org:*`` event on the chart's own audit chain.
* **CSV**: one file, ``kind,id,name,parent,head,department,manager`` (docs/org-chart.md);
  UTF-8 with or without the BOM Excel writes; an import with any bad line imports nothing
  and names every bad line and column with the fix.
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.app import people, spreadsheet
from engine.app.access import Reader, refuse_auditor
from engine.errors import DefinitionInvalid, NotFound, NotPermitted, Problem, WorkflowError
from engine.i18n import _
from engine.runtime.org import Department, OrgChart
from engine.store import org as org_store
from engine.store import users as user_store
from engine.store.org import DepartmentRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.app.database import Database
    from engine.app.services import Services

COLUMNS = ("kind", "id", "name", "parent", "head", "department", "manager")
DEPARTMENT_COLUMNS = {"name", "parent", "head"}
USER_COLUMNS = {"department", "manager"}
KINDS = {"department": "department", "dept": "department", "部门": "department",
         "user": "user", "用户": "user", "人员": "user"}
MAX_BYTES = 5 * 1024 * 1024
MAX_ID = 64
MAX_NAME = 200


class OrgInvalid(DefinitionInvalid):
    """An organisation chart (a CSV file, or one change) that cannot be; ``problems`` names
    every bad line and column (``FILE:LINE:COL: message``). Nothing was changed."""

    code = "org_invalid"

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        # A single change has no file: its problems read as plain sentences.
        self.message = "\n".join(str(p) if p.file else p.message for p in self.problems)
        self.args = (self.message,)


# --------------------------------------------------------------------------- the snapshot

_cache: OrderedDict[str, OrgChart] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 8  # a process may serve several databases (tests, restore drills)


def current_org(source: Session | Database, stamp: tuple[str, int] | None = None) -> OrgChart:
    """The organisation chart as the runtime sees it, from the cache while the chart's stamp
    is unchanged (one primary-key read), else read afresh. ``source``: the session of the
    use case, or a ``Database`` (a read session of its own). ``stamp``: the (stamp, version)
    already read in this transaction (a step's ``StepRow.org_stamp``), saving the read."""
    reading = getattr(source, "reading", None)
    if reading is not None:
        with reading() as session:
            return current_org(session)
    session: Session = source  # type: ignore[assignment]
    found = stamp or org_store.stamp(session)
    if found is not None:
        with _cache_lock:
            chart = _cache.get(found[0])
            if chart is not None:
                _cache.move_to_end(found[0])
                return chart
    rows = org_store.read(session)
    chart = snapshot(rows)
    # Cached only when nothing changed while the rows were read (PostgreSQL's READ
    # COMMITTED lets statements of one transaction see different commits).
    if found is not None and rows.stamp == found[0]:
        with _cache_lock:
            _cache[found[0]] = chart
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return chart


def snapshot(rows: org_store.Chart) -> OrgChart:
    """The runtime's chart from the stored rows: inactive users hold no post (head, manager)."""
    active = {p.username for p in rows.people if p.active}
    return OrgChart(
        departments={d.id: Department(d.id, d.name, d.parent, d.head if d.head in active else None)
                     for d in rows.departments},
        user_department={p.username: p.department for p in rows.people if p.department},
        user_manager={p.username: p.manager for p in rows.people if p.manager and p.manager in active},
        version=rows.version)


# --------------------------------------------------------------------------- who changes it


def _editor(who: Reader | str) -> str:
    """The name a change is recorded under. A ``Reader`` (a web or API caller) must be an
    administrator; a plain string is the operator of the command line, who holds the
    database's keys anyway."""
    from engine.app.user_admin import rights  # user_admin imports this module

    if isinstance(who, str):
        return who
    if not rights(who).change:
        refuse_auditor(who)
        raise NotPermitted(_("only administrators may change the organisation chart; ask one to make this change"))
    return who.username


def command_line() -> str:
    """The name changes made with ``wf`` are recorded under: ``cli:`` and the system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


# --------------------------------------------------------------------------- checking


@dataclass
class _Row:
    """One line of a chart being checked: where it is, and where each of its columns is."""

    line: int
    columns: dict[str, int] = field(default_factory=dict)


@dataclass
class Draft:
    """A whole chart as proposed: departments and, per user, (department, manager)."""

    departments: dict[str, DepartmentRow] = field(default_factory=dict)
    people: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    # Where each came from (a CSV line) for messages; empty for single changes.
    dept_rows: dict[str, _Row] = field(default_factory=dict)
    user_rows: dict[str, _Row] = field(default_factory=dict)


def _check_id(value: str) -> str | None:
    if len(value) > MAX_ID or any(ord(c) < 0x20 for c in value) or value != value.strip():
        return _("an id has at most {n} characters, without control characters or spaces around it "
                 "(e.g. quality)", n=MAX_ID)
    return None


def check(draft: Draft, users: Mapping[str, bool], file: str = "") -> list[Problem]:
    """Every problem of ``draft`` as a chart: unknown parents, heads, departments and
    managers; a department tree or a manager chain that goes round in a loop."""
    problems: list[Problem] = []

    def dept_at(dept_id: str, column: str) -> tuple[int, int]:
        row = draft.dept_rows.get(dept_id)
        return (row.line, row.columns.get(column, 0)) if row else (0, 0)

    def user_at(username: str, column: str) -> tuple[int, int]:
        row = draft.user_rows.get(username)
        return (row.line, row.columns.get(column, 0)) if row else (0, 0)

    for d in draft.departments.values():
        if d.parent and d.parent not in draft.departments:
            problems.append(Problem(file, *dept_at(d.id, "parent"), _(
                "department '{id}': parent '{parent}' is not a department; add a line for it or leave "
                "parent empty", id=d.id, parent=d.parent)))
        if d.head and d.head not in users:
            problems.append(Problem(file, *dept_at(d.id, "head"), _(
                "department '{id}': head '{user}' is not a user; add the user first (wf user add) or "
                "leave head empty", id=d.id, user=d.head)))
    for d in draft.departments.values():
        loop = _dept_loop(draft.departments, d.id)
        if loop:
            problems.append(Problem(file, *dept_at(d.id, "parent"), _(
                "department '{id}' is inside itself: {loop}; give one of them another parent (or none)",
                id=d.id, loop=" → ".join(loop))))
    for username, (dept, manager) in draft.people.items():
        if username not in users:
            problems.append(Problem(file, *user_at(username, "id"), _(
                "user '{user}' does not exist; add the user first (wf user add) or remove the line",
                user=username)))
        if dept and dept not in draft.departments:
            problems.append(Problem(file, *user_at(username, "department"), _(
                "user '{user}': department '{dept}' is not a department; use the id of a department "
                "line (not its name) or leave it empty", user=username, dept=dept)))
        if manager:
            if manager == username:
                problems.append(Problem(file, *user_at(username, "manager"), _(
                    "user '{user}' cannot be their own manager; name someone else or leave it empty",
                    user=username)))
            elif manager not in users:
                problems.append(Problem(file, *user_at(username, "manager"), _(
                    "user '{user}': manager '{manager}' is not a user; add the user first (wf user add) "
                    "or leave manager empty", user=username, manager=manager)))
    problems += _manager_loops(draft, file, user_at, dept_at)
    return sorted(set(problems))


def _dept_loop(departments: Mapping[str, DepartmentRow], start: str) -> list[str]:
    """The departments from ``start`` back to itself along parents, if it lies on a loop."""
    path, current = [start], departments[start].parent
    while current and current in departments:
        if current == start:
            return [*path, start]
        if current in path:
            return []  # a loop above it, reported at its own members
        path.append(current)
        current = departments[current].parent
    return []


def _manager_loops(draft: Draft, file: str, user_at: Any, dept_at: Any) -> list[Problem]:
    """Users whose chain of managers (``OrgChart.manager_of``: the recorded manager, else a
    department head) comes back to them, reported at their line (or at the department they
    head, when they have none)."""
    chart = OrgChart(
        departments={d.id: Department(d.id, d.name, d.parent, d.head) for d in draft.departments.values()},
        user_department={u: d for u, (d, _m) in draft.people.items() if d},
        user_manager={u: m for u, (_d, m) in draft.people.items() if m})
    heads = {d.head: d.id for d in draft.departments.values() if d.head}
    problems = []
    for user in sorted({*draft.people, *heads}):
        chain, current = [user], user
        while True:
            nxt = chart.manager_of(current)  # one step up (a recorded self-manager is reported above)
            if nxt is None:
                break
            if nxt == user:
                where = (user_at(user, "manager") if user in draft.user_rows or not heads.get(user)
                         else dept_at(heads[user], "head"))
                problems.append(Problem(file, *where, _(
                    "the managers of '{user}' go round in a loop: {loop} (a department's head counts "
                    "as the manager of those without one); give one of them another manager",
                    user=user, loop=" → ".join([*chain, user]))))
                break
            if nxt in chain:
                break  # a loop further up, reported at its own members
            chain.append(nxt)
            current = nxt
    return problems


def _require_valid(draft: Draft, users: Mapping[str, bool], file: str = "") -> None:
    problems = check(draft, users, file)
    if problems:
        raise OrgInvalid(problems)


# --------------------------------------------------------------------------- CSV


def parse_csv(data: bytes | str, file: str = "org.csv") -> tuple[Draft, list[Problem]]:
    """The chart a CSV file describes and the problems of its lines (the chart's own
    checks come after, in ``check``)."""
    problems: list[Problem] = []
    draft = Draft()

    def bad(line: int, col: int, message: str) -> None:
        problems.append(Problem(file, line, col, message))

    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            bad(1, 1, _("the file has more than {n} MB; split it or remove what is not the chart",
                        n=MAX_BYTES // (1024 * 1024)))
            return draft, problems
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            bad(line, 1, _("the file is not UTF-8 text; in Excel save it as 'CSV UTF-8 (comma delimited)'"))
            return draft, problems
    else:
        text = data.removeprefix("\ufeff")
    if "\x00" in text:
        bad(text[:text.index("\x00")].count("\n") + 1, 1, _("the file holds a NUL character; it is not a CSV text file"))
        return draft, problems
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        bad(1, 1, _("the header line cannot be read as CSV ({error})", error=str(exc)))
        return draft, problems
    if not header or not any(h.strip() for h in header):
        bad(1, 1, _("the file is empty; the first line must name the columns: {columns}", columns=",".join(COLUMNS)))
        return draft, problems
    names = [h.strip().lower() for h in header]
    where: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if name not in COLUMNS:
            bad(1, i, _("unknown column '{name}'; the columns are {columns}", name=header[i - 1].strip(),
                        columns=",".join(COLUMNS)))
        elif name in where:
            bad(1, i, _("column '{name}' appears twice; keep one", name=name))
        else:
            where[name] = i
    for required in ("kind", "id"):
        if required not in where:
            bad(1, len(names) + 1, _("the header has no column '{name}'; the columns are {columns}",
                                     name=required, columns=",".join(COLUMNS)))
    if problems:
        return draft, problems
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad(reader.line_num, 1, _("this line cannot be read as CSV ({error}); check its quotes", error=str(exc)))
            break
        line = reader.line_num
        if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue  # blank lines and comments
        if len(cells) > len(names):
            bad(line, len(names) + 1, _("this line has {n} cells, the header {m}; remove the extra ones "
                                        "(a comma inside a name needs quotes)", n=len(cells), m=len(names)))
            continue
        row = {name: spreadsheet.from_csv(cells[i - 1].strip() if i - 1 < len(cells) else "") for name, i in where.items()}
        kind = KINDS.get(row["kind"].lower())
        if kind is None:
            bad(line, where["kind"], _("kind must be 'department' or 'user', not '{kind}'", kind=row["kind"]))
            continue
        ident = row["id"]
        if not ident:
            bad(line, where["id"], _("a {kind} line needs its id (a department's id, or the user name)",
                                     kind=kind))
            continue
        wrong = sorted((USER_COLUMNS if kind == "department" else DEPARTMENT_COLUMNS) & {k for k, v in row.items() if v})
        for column in wrong:
            bad(line, where[column], _("column '{column}' is not for {kind} lines; leave it empty here",
                                       column=column, kind=kind))
        if wrong:
            continue
        if kind == "department":
            message = _check_id(ident)
            if message:
                bad(line, where["id"], message)
                continue
            if ident in draft.dept_rows:
                bad(line, where["id"], _("department '{id}' is also on line {line}; give each department "
                                         "one line", id=ident, line=draft.dept_rows[ident].line))
                continue
            name = row.get("name", "")
            if not name or len(name) > MAX_NAME:
                bad(line, where.get("name", where["id"]), _(
                    "department '{id}' needs a name of at most {n} characters (e.g. 质量部)", id=ident, n=MAX_NAME))
                continue
            draft.departments[ident] = DepartmentRow(ident, name, row.get("parent") or None, row.get("head") or None)
            draft.dept_rows[ident] = _Row(line, where)
        else:
            if ident in draft.user_rows:
                bad(line, where["id"], _("user '{user}' is also on line {line}; give each user one line",
                                         user=ident, line=draft.user_rows[ident].line))
                continue
            draft.people[ident] = (row.get("department") or None, row.get("manager") or None)
            draft.user_rows[ident] = _Row(line, where)
    return draft, problems


def to_csv(rows: org_store.Chart) -> str:
    """The chart as ``parse_csv`` reads it: departments parents first, then every user who
    has a department or a manager. With Excel's BOM, so that Excel shows the Chinese."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for d in _tree_order(rows.departments):
        writer.writerow([spreadsheet.to_csv(c) for c in ["department", d.id, d.name, d.parent or "", d.head or "", "", ""]])
    for p in rows.people:
        if p.department or p.manager:
            writer.writerow([spreadsheet.to_csv(c) for c in ["user", p.username, "", "", "", p.department or "", p.manager or ""]])
    return "\ufeff" + out.getvalue()


def _tree_order(departments: Iterable[DepartmentRow]) -> list[DepartmentRow]:
    """Departments with every parent before its children (siblings by id); departments on
    a loop (never stored, but an old database may hold one) last."""
    by_parent: dict[str | None, list[DepartmentRow]] = {}
    deps = list(departments)
    ids = {d.id for d in deps}
    for d in deps:
        by_parent.setdefault(d.parent if d.parent in ids else None, []).append(d)
    out: list[DepartmentRow] = []
    seen: set[str] = set()

    def walk(parent: str | None) -> None:
        for d in sorted(by_parent.get(parent, []), key=lambda d: d.id):
            if d.id not in seen:
                seen.add(d.id)
                out.append(d)
                walk(d.id)

    walk(None)
    return out + [d for d in deps if d.id not in seen]


# --------------------------------------------------------------------------- use cases


@dataclass(frozen=True)
class Imported:
    departments: int
    users: int
    version: int


def import_csv(services: Services, who: Reader | str, data: bytes | str, file: str = "org.csv") -> Imported:
    """Replace the whole chart with the one in a CSV file (``who``: an administrator, or the
    command line's operator). ``OrgInvalid`` names every bad line, and nothing is imported."""
    editor = _editor(who)
    draft, problems = parse_csv(data, file)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with services.database.writing() as session:
        users = org_store.usernames(session)
        # The chart's checks run on the lines that could be read, so every bad line is named.
        problems += check(draft, users, file)
        if problems:
            raise OrgInvalid(problems)
        org_store.replace(session, draft.departments.values(), draft.people)
        version = org_store.changed(session, editor, "imported", {
            "file": file, "sha256": hashlib.sha256(raw).hexdigest(),
            "departments": len(draft.departments), "users": len(draft.people)}, services.now())
    return Imported(len(draft.departments), len(draft.people), version)


def export_csv(services: Services) -> str:
    """The chart as a CSV file that ``import_csv`` reads back unchanged."""
    with services.database.reading() as session:
        return to_csv(org_store.read(session))


def _current_draft(session: Session) -> tuple[Draft, dict[str, bool], org_store.Chart]:
    rows = org_store.read(session)
    draft = Draft({d.id: d for d in rows.departments},
                  {p.username: (p.department, p.manager) for p in rows.people if p.department or p.manager})
    return draft, {p.username: p.active for p in rows.people}, rows


KEEP: Any = object()  # leave this one as it is (``set_person``, ``user_admin.edit``)


@dataclass(frozen=True)
class Placing:
    """A user's department and manager as proposed (``placing``), with what the whole chart
    would have against it. ``changes``: ``{field: {before, after}}`` of what differs."""

    username: str
    department: str | None
    manager: str | None
    changes: dict[str, dict[str, str | None]]
    problems: list[Problem]


def placing(session: Session, username: str, *, department: str | None = KEEP, manager: str | None = KEEP,
            adding: bool = False) -> Placing:
    """The chart's one check of a user's department and manager (None or "" clears,
    ``KEEP`` leaves it): the whole chart as it would be, so a manager loop is found however
    long. ``adding``: the user is being added in this transaction (not a row yet)."""
    draft, users, _rows = _current_draft(session)
    if adding:
        users = {**users, username: True}
    elif username not in users:
        raise NotFound(_("user '{user}' does not exist; see 'wf user list'", user=username))
    was = draft.people.get(username, (None, None))
    now = (was[0] if department is KEEP else ((department or "").strip() or None),
           was[1] if manager is KEEP else ((manager or "").strip() or None))
    changes = {key: {"before": b, "after": a} for key, b, a in zip(("department", "manager"), was, now, strict=True)
               if a != b}
    draft.people[username] = now
    return Placing(username, *now, changes, check(draft, users) if changes else [])


def place(session: Session, found: Placing) -> None:
    """Write a user's department and manager as ``placing`` checked them (``OrgInvalid``
    if it found problems). The caller records the change (``user_edited``)."""
    if found.problems:
        raise OrgInvalid(found.problems)
    if found.changes:
        org_store.set_person(session, found.username, department=found.department, manager=found.manager)


def set_person(services: Services, who: Reader | str, username: str, *, department: str | None = KEEP,
               manager: str | None = KEEP) -> int:
    """Set a user's department and/or manager (None or "" clears, ``KEEP`` leaves it); the
    chart is checked whole first (a manager loop is refused). Recorded as ``user_edited``
    (each field before and after), as the user pages record theirs; nothing when nothing
    changed. The chart's version."""
    editor = _editor(who)
    with services.database.writing() as session:
        found = placing(session, username, department=department, manager=manager)
        place(session, found)
        if not found.changes:
            return (org_store.stamp(session) or ("", 0))[1]
        return org_store.changed(session, editor, "user_edited", {"user": username, "changes": found.changes},
                                 services.now())


def save_department(services: Services, who: Reader | str, dept_id: str, *, name: str | None = None,
                    parent: str | None = None, head: str | None = None, create: bool = False) -> int:
    """Add a department (``create``), or rename, move or give a head to one; ``None``
    leaves a field as it is and "" clears parent or head. The new version."""
    editor = _editor(who)
    dept_id = (dept_id or "").strip()
    message = _check_id(dept_id) if dept_id else _("a department needs an id (e.g. quality)")
    if message:
        raise WorkflowError(message)
    with services.database.writing() as session:
        draft, users, _rows = _current_draft(session)
        old = draft.departments.get(dept_id)
        if create and old is not None:
            raise WorkflowError(_("department '{id}' exists already; rename or move it instead", id=dept_id))
        if not create and old is None:
            raise NotFound(_("department '{id}' does not exist; add it first (wf org department ID --add --name NAME)", id=dept_id))
        base = old or DepartmentRow(dept_id, "", None, None)
        new_name = base.name if name is None else name.strip()
        if not new_name or len(new_name) > MAX_NAME:
            raise WorkflowError(_("department '{id}' needs a name of at most {n} characters (e.g. 质量部)",
                                  id=dept_id, n=MAX_NAME))
        dept = DepartmentRow(dept_id, new_name,
                             base.parent if parent is None else (parent.strip() or None),
                             base.head if head is None else (head.strip() or None))
        draft.departments[dept_id] = dept
        _require_valid(draft, users)
        org_store.save_department(session, dept)
        what = "department_added" if create else "department_changed"
        return org_store.changed(session, editor, what,
                                 {"id": dept.id, "name": dept.name, "parent": dept.parent, "head": dept.head},
                                 services.now())


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Person:
    username: str
    full_name: str
    active: bool
    manager: str | None  # as recorded
    reports_to: str | None  # who the runtime takes as manager (``OrgChart.manager_of``)
    reports_to_name: str = ""  # their full name (the user name where none is set)


@dataclass(frozen=True)
class DepartmentView:
    id: str
    name: str
    parent: str | None
    head: str | None
    head_name: str
    depth: int
    members: list[Person]


@dataclass(frozen=True)
class OrgView:
    version: int
    departments: list[DepartmentView]  # parents first, with their depth in the tree
    unplaced: list[Person]  # users with a manager but no department
    may_change: bool


def view(services: Services, reader: Reader | str) -> OrgView:
    """The chart as the page and the API show it, to any signed-in user (departments, heads
    and managers are no secret inside the company); ``may_change`` for administrators and
    the command line (a plain string, as for changes)."""
    with services.database.reading() as session:
        rows = org_store.read(session)
    chart = snapshot(rows)
    names = {p.username: p.full_name or p.username for p in rows.people}
    by_dept: dict[str, list[Person]] = {}
    unplaced = []
    for p in rows.people:
        boss = chart.manager_of(p.username)
        person = Person(p.username, p.full_name, p.active, p.manager, boss, names.get(boss or "", boss or ""))
        if p.department:
            by_dept.setdefault(p.department, []).append(person)
        elif p.manager:
            unplaced.append(person)
    ordered = _tree_order(rows.departments)
    depth: dict[str, int] = {}
    out = []
    for d in ordered:
        depth[d.id] = depth.get(d.parent or "", -1) + 1 if d.parent in depth else 0
        out.append(DepartmentView(d.id, d.name, d.parent, d.head, names.get(d.head or "", d.head or ""),
                                  depth[d.id], by_dept.get(d.id, [])))
    from engine.app.user_admin import rights  # user_admin imports this module

    return OrgView(rows.version, out, unplaced, rights(reader).change)


@dataclass(frozen=True)
class Change:
    at: Any  # datetime (UTC)
    actor: str
    kind: str  # imported, user_edited (user_changed before), department_added, ... (user_admin.KINDS)
    data: dict[str, Any]
    by: str = ""  # the actor as the reader names them: a full name, 系统, 命令行 (ops)


def history(services: Services, reader: Reader, *, limit: int = 50) -> list[Change]:
    """The latest changes of the chart, newest first, from its audit chain: for auditors and
    administrators (who read every record); others get none."""
    if not reader.reads_everything:
        return []
    with services.database.reading() as session:
        rows = org_store.events(session, newest=limit)
        names = user_store.full_names(session, {r.actor for r in rows})
    return [Change(r.at, r.actor, r.type.removeprefix("org:"), dict(r.data or {}), people.actor_name(r.actor, names))
            for r in rows]


def as_dict(found: OrgView) -> dict[str, Any]:
    """The chart as JSON (``GET /api/v1/org``)."""
    def person(p: Person) -> dict[str, Any]:
        return {"user": p.username, "name": p.full_name, "active": p.active, "manager": p.manager,
                "reports_to": p.reports_to}

    return {"version": found.version,
            "departments": [{"id": d.id, "name": d.name, "parent": d.parent, "head": d.head,
                             "members": [person(p) for p in d.members]} for d in found.departments],
            "unplaced": [person(p) for p in found.unplaced]}


# --------------------------------------------------------------------------- demo


DEMO_CHART = """kind,id,name,parent,head,department,manager
department,gm-office,总经理办公室,,general-managers,,
department,quality,质量部,gm-office,quality-dept,,
department,service,服务部,gm-office,after-sales-heads,,
department,customer-service,客服部,service,customer-service-managers,,
department,branch,分公司,service,branch-managers,,
user,deputy-general-managers,,,,gm-office,general-managers
user,qa-supervisors,,,,quality,
user,qa-inspectors,,,,quality,qa-supervisors
user,document-control,,,,quality,
user,service-managers,,,,service,
user,service-desk,,,,service,service-managers
user,service-technicians,,,,service,service-managers
user,customer-service,,,,customer-service,
user,branch-service-heads,,,,branch,
user,branch-service,,,,branch,branch-service-heads
"""


def seed_demo(services: Services) -> Imported | None:
    """The demo chart for ``wf serve --demo`` when no department exists yet: the lines of
    ``DEMO_CHART`` whose users the demo has (user names are the demo's group names)."""
    with services.database.reading() as session:
        rows = org_store.read(session)
    if rows.departments:
        return None
    users = {p.username for p in rows.people}
    reader = csv.reader(io.StringIO(DEMO_CHART))
    header = next(reader)
    kept = [header]
    for cells in reader:
        row = dict(zip(header, cells, strict=True))
        needed = {row["head"], row["manager"]} - {""}
        if row["kind"] == "user" and row["id"] not in users:
            continue
        if needed - users:
            row["head"] = row["head"] if row["head"] in users else ""
            row["manager"] = row["manager"] if row["manager"] in users else ""
        kept.append([row[h] for h in header])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(kept)
    return import_csv(services, "demo", out.getvalue(), "demo-org.csv")
