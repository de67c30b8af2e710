"""Files posted to file and signature fields: checked, stored under ``paths.uploads`` with
their SHA-256, and bound to the instance whose submission references them.

The one rule of which files a submission may record (starts, task completions, approvals'
data and corrections, from the pages and the API alike): a file its submitter uploaded that
no record holds yet, or a file already of the same instance (a later step keeping earlier
photos). Any other id (another user's pending upload, a file of another record, an id that
names no file) is refused at its field and nothing is recorded (``refuse_foreign`` before the
write, ``bind`` after it, in the same transaction)."""

from __future__ import annotations

import errno
import hashlib
import logging
import mimetypes
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from engine import store
from engine.app.database import storage_full
from engine.app.masking import file_fields, held_file_field, record_views, sensitive_keys
from engine.errors import FileAltered, FormInvalid, InputTooLarge, NotFound, NotPermitted
from engine.i18n import N_, _, keep, reader_locale
from engine.i18n import worded_apart as said
from engine.store import upload_sweep

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from engine.app.access import Reader
    from engine.app.database import Database
    from engine.app.services import Services
    from engine.runtime.replay import Finding
    from engine.store.record_rows import StoredRecord

log = logging.getLogger(__name__)


@dataclass
class Upload:
    """One posted file: ``name`` is the input it came from, ``field`` the data path it
    fills (``photos``, ``items.0.photo``), with that field's ``x-max-size`` and ``x-accept``."""

    name: str
    field: str
    filename: str
    stream: IO[bytes]
    max_size: int | None = None
    accept: list[str] = field(default_factory=list)


@dataclass
class UploadRejected:
    field: str
    message: str
    status: int


_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "application/pdf": (b"%PDF-",),
}


def size_words(n: int) -> str:
    """A size as people read it: ``10 MB``, ``1.5 MB``, ``64 KB``."""
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f}".rstrip("0").rstrip(".") + " MB"
    return f"{max(1, n // 1024)} KB"


DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# A submission may carry this many files at the per-file limit (unless config says otherwise):
# a phone photo is 3 to 8 MB, and a receipt or a repair record asks for several.
FILES_PER_REQUEST = 5


# Files a user may hold uploaded but in no record yet (drafts', refused forms'), at the per-file
# limit, unless config says otherwise: unsent files are swept only after a day, and without a
# bound one account could fill the server's disk meanwhile.
FILES_PENDING = 20


class Limits(NamedTuple):
    """How large one file may be (``uploads.max_bytes``; a field's ``x-max-size`` may lower it),
    what one submission may carry in all (``uploads.max_request_bytes``) and what one user may
    hold uploaded that no record holds yet (``uploads.max_pending_bytes``)."""

    per_file: int
    per_request: int
    pending: int = FILES_PENDING * DEFAULT_MAX_BYTES


def limits(config: Any) -> Limits:
    per_file = int(config.get("uploads", "max_bytes", default=DEFAULT_MAX_BYTES) or DEFAULT_MAX_BYTES)
    per_request = int(config.get("uploads", "max_request_bytes", default=0) or 0) or FILES_PER_REQUEST * per_file
    pending = int(config.get("uploads", "max_pending_bytes", default=0) or 0) or FILES_PENDING * per_file
    return Limits(per_file, max(per_request, per_file), max(pending, per_file))


def _accepted(content_type: str, filename: str, accept: list[str]) -> bool:
    ext = os.path.splitext(filename)[1].lower()
    return any(a.lower() == content_type or (a.startswith(".") and a.lower() == ext)
               or (a.endswith("/*") and content_type.startswith(a[:-1])) for a in accept)


def store_files(services: Services, username: str,
                files: Iterable[Upload]) -> tuple[dict[str, list[str]], list[UploadRejected]]:
    """Store every posted file; new attachment ids by input name, and the refusals.

    The type is taken from the file name and, for images and PDF, checked against the
    first bytes; it must be allowed by config ``uploads.allowed_types`` and by the field's
    ``x-accept``. The size limit is config ``uploads.max_bytes`` (and ``x-max-size``).
    Files go to ``paths.uploads`` under random names; the SHA-256 is recorded.
    """
    config = services.config
    files = list(files)
    new: dict[str, list[str]] = {}
    refused: list[UploadRejected] = []
    if not files:
        return new, refused
    bounds = limits(config)
    max_bytes = bounds.per_file
    allowed = [str(t).lower() for t in config.get("uploads", "allowed_types", default=[]) or []]
    folder = config.path("paths", "uploads", default="var/uploads")
    written: list[Path] = []  # files on disk that this request's transaction will hold
    try:
        with services.database.writing() as session:
            upload_sweep.hold_uploads_of(session, username)  # the room is read and taken by one at a time
            room = bounds.pending - upload_sweep.pending_bytes(session, username)
            for upload in files:
                limit = min(max_bytes, int(upload.max_size or max_bytes))
                before = len(new.get(upload.name, []))
                problem = _store_one(upload, limit, allowed, folder, session, username,
                                     new.setdefault(upload.name, []), room, bounds.pending, written)
                if problem:
                    refused.append(problem)
                elif len(new[upload.name]) > before:
                    room -= store.get_attachment(session, new[upload.name][-1]).size
    except BaseException as exc:
        # Nothing of this request was recorded (the transaction is rolled back): its files go too.
        for path in written:
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
            log.error("an upload could not be written to %s (%s): make room on its disk", folder, exc)
            raise storage_full() from exc
        raise
    return new, refused


# A disk that is full, over quota, read-only or failing: the same refusal as the database's.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}


def _store_one(upload: Upload, limit: int, allowed: list[str], folder: Path, session: Session,
               username: str, ids: list[str], room: int, pending: int,
               written: list[Path]) -> UploadRejected | None:
    accept = upload.accept
    filename = os.path.basename(upload.filename or "file").replace("\x00", "")[:200] or "file"
    content_type = (mimetypes.guess_type(filename)[0] or "application/octet-stream").lower()
    head = upload.stream.read(16)
    upload.stream.seek(0)
    magic = _MAGIC.get(content_type)
    if magic and not any(head.startswith(m) for m in magic):
        return UploadRejected(upload.field, _("Files of type {type} are not accepted here (allowed: {allowed}).",
                                              type=" ≠ ".join((filename, content_type)),
                                              allowed=", ".join(accept or allowed)), 422)
    if (allowed and content_type not in allowed) or (accept and not _accepted(content_type, filename, accept)):
        return UploadRejected(upload.field, _("Files of type {type} are not accepted here (allowed: {allowed}).",
                                              type=content_type, allowed=", ".join(accept or allowed)), 422)
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / secrets.token_hex(16)
    written.append(stored)
    digest = hashlib.sha256()
    size = 0
    with open(stored, "wb") as out:
        while chunk := upload.stream.read(64 * 1024):
            size += len(chunk)
            if size > limit:
                out.close()
                stored.unlink(missing_ok=True)
                return UploadRejected(upload.field, _("The file is larger than {limit}.", limit=size_words(limit)), 413)
            if size > room:
                out.close()
                stored.unlink(missing_ok=True)
                return UploadRejected(upload.field, _(
                    "You have uploaded files that are not yet part of any record (at most {limit} in all): send "
                    "or delete the drafts and forms they were chosen for first. Files no form uses are removed "
                    "after a day.", limit=size_words(pending)), 413)
            digest.update(chunk)
            out.write(chunk)
    row = store.add_attachment(session, filename=filename, content_type=content_type, size=size,
                               sha256=digest.hexdigest(), storage_path=str(stored), uploaded_by=username)
    ids.append(row.id)
    return None


@dataclass(frozen=True)
class FileValue:
    """One attachment id in submitted data: ``field`` is the path pages and the API name
    (``photos``, ``items.0.photo``), with the field's ``x-accept`` and ``x-max-size``."""

    field: str
    id: str
    accept: tuple[str, ...] = ()
    max_size: int | None = None


def file_values(schema: Mapping[str, Any], data: Any) -> list[FileValue]:
    """Every attachment id held by file and signature fields of ``data``, with its field."""
    from engine.language.forms import default_widget

    out: list[FileValue] = []

    def collect(schema: Mapping[str, Any], data: Any, path: tuple[str, ...]) -> None:
        if not isinstance(data, Mapping):
            return
        for key, sub in (schema.get("properties") or {}).items():
            if key not in data or not isinstance(sub, dict):
                continue
            value = data[key]
            widget = sub.get("x-widget") or default_widget(dict(sub))
            if widget in ("file", "signature"):
                accept = sub.get("x-accept")
                accept = tuple(str(a) for a in accept) if isinstance(accept, list) else ()
                limit = sub.get("x-max-size")
                limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
                out.extend(FileValue(".".join((*path, key)), str(v), accept, limit)
                           for v in (value if isinstance(value, list) else [value]) if v)
            elif _type(sub) == "object":
                collect(sub, value, (*path, key))
            elif _type(sub) == "array" and isinstance(sub.get("items"), dict) and isinstance(value, list):
                for i, row in enumerate(value):
                    collect(sub["items"], row, (*path, key, str(i)))

    collect(schema, data, ())
    return out


def attachment_ids(schema: Mapping[str, Any], data: Any) -> list[str]:
    """Every attachment id held by file and signature fields of ``data``."""
    return [f.id for f in file_values(schema, data)]


def refuse_foreign(session: Session, username: str, instance_id: str | None,
                   files: list[FileValue], locale: str | None = None) -> None:
    """Refuse (``FormInvalid``, 422, at each field) the files a submission by ``username``
    to ``instance_id`` (None: a start) may not record: only the user's own uploads that no
    record holds yet, and files of this instance, may be. Also the field's ``x-accept`` and
    ``x-max-size``, which an upload through the API (that knows no field) was not checked
    against. Read before the write, so that a refusal costs nothing."""
    if files:
        rows = store.attachments_named(session, {f.id for f in files})
        _refuse([(f, _problem(rows.get(f.id), f, username, instance_id, locale)) for f in files], locale)


FILES_RECORDED = "files:recorded"


def file_ref(attachment_id: str) -> str:
    """How the audit trail names a file: the SHA-256 of its id, not the id. A reader who may
    read the record but sees a sensitive file field masked must not learn from the trail the
    id that downloads it."""
    return hashlib.sha256(attachment_id.encode("utf-8")).hexdigest()


def bind(session: Session, username: str, instance_id: str, files: list[FileValue],
         locale: str | None = None, *, now: datetime, step: str, task: str | None = None) -> None:
    """Bind the submitted files to the instance just written, in its transaction: the
    user's own unbound uploads (``store.attach``). A file another submission bound (or the
    sweep removed) since ``refuse_foreign`` read it is refused now, and the transaction with
    it: nothing is recorded.

    The files bound now join the record's audit trail with their content (``files:recorded``:
    each file's field, ``file_ref``, SHA-256 and size, by ``username`` at ``now`` for ``step``
    and ``task``), so a photo or a drawn signature replaced later, on disk or in the files
    table, is named by ``wf audit verify`` and the record's integrity check."""
    if not files:
        return
    ids = {f.id for f in files}
    bound_now = store.attach(session, ids, instance_id, uploaded_by=username)
    rows = store.attachments_named(session, ids)
    _refuse([(f, None if (row := rows.get(f.id)) is not None and row.instance_id == instance_id
              else _not_yours(f, locale)) for f in files], locale)
    recorded = [{"field": f.field, "file": file_ref(f.id), "sha256": rows[f.id].sha256, "size": rows[f.id].size}
                for f in dict((f.id, f) for f in files).values() if f.id in bound_now]
    if recorded:
        store.append_events(session, instance_id, [{"type": FILES_RECORDED, "step": step, "task": task,
                                                    "actor": username, "at": now, "data": {"files": recorded}}])


def recorded_words(data: Mapping[str, Any]) -> str:
    """A ``files:recorded`` event in the reader's words: how many files, and the start of each
    one's SHA-256 (the mask where the reader sees the field masked)."""
    files = data.get("files") or []
    return _("{n} file(s), SHA-256 {hashes}", n=len(files),
             hashes=", ".join(str(f.get("sha256"))[:12] + "…" for f in files))


def file_findings(rec: StoredRecord) -> list[Finding]:
    """Where the files a record holds (the files table) are not the files its audit trail
    recorded (``files:recorded``): a content hash or size changed, a file held that the trail
    never recorded, a recorded file no longer held. Each names the step and field the trail
    gives (or, for files recorded by migration 0024, the file's name); never the file's id
    (``file_ref``)."""
    recorded: dict[str, dict[str, Any]] = {}  # ref -> the entry, with the event's step
    for e in rec.events:
        if e["type"] == FILES_RECORDED:
            for f in (e["data"] or {}).get("files") or []:
                recorded.setdefault(f.get("file"), {**f, "step": e.get("step") or ""})
    out: list[Finding] = []
    held = {file_ref(fid): (fid, name, sha, size) for fid, (name, sha, size) in rec.files.items()}
    for ref, (fid, name, sha, size) in sorted(held.items(), key=lambda item: item[1][0]):
        found = recorded.get(ref)
        if found is None:
            out.append(said(f"file {fid} ({name!r}): held by the record, not in its audit trail",
                            keep("the file “{name}” is held by the record, but its audit trail never recorded it",
                                 name=name)))
        elif (sha, size) != (found.get("sha256"), found.get("size")):
            want = str(found.get("sha256"))[:16]
            text = (f"file {fid} ({name!r}): stored sha256 {sha[:16]} ({size} bytes), recorded {want} "
                    f"({found.get('size')} bytes)")
            out.append(said(text, keep("the file in {field} of {step} is not the one its audit trail recorded: "
                                       "SHA-256 {held}…, recorded {recorded}…", step=found["step"],
                                       field=found.get("field"), held=sha[:16], recorded=want)
                            if found.get("field") else
                            keep("the file “{name}” is not the one its audit trail recorded: SHA-256 {held}…, "
                                 "recorded {recorded}…", name=name, held=sha[:16], recorded=want)))
    for ref, f in sorted(recorded.items(), key=lambda item: (item[1]["step"], str(item[1].get("field")))):
        if ref not in held:
            out.append(said(f"file of {f['step']}.{f.get('field') or f.get('name')} (ref {str(ref)[:16]}): "
                            "recorded in the audit trail, not held by the record",
                            keep("the file in {field} of {step} that its audit trail recorded is no longer held "
                                 "by the record", step=f["step"], field=f.get("field"))
                            if f.get("field") else
                            keep("the file “{name}” that its audit trail recorded is no longer held by the record",
                                 name=f.get("name"))))
    return out


def _problem(row: Any, f: FileValue, username: str, instance_id: str | None, locale: str | None) -> str | None:
    if row is None or not ((row.instance_id is None and row.uploaded_by == username)
                           or (instance_id is not None and row.instance_id == instance_id)):
        return _not_yours(f, locale)
    if f.accept and not _accepted(row.content_type, row.filename, list(f.accept)):
        return _("Files of type {type} are not accepted here (allowed: {allowed}).", locale,
                 type=row.content_type, allowed=", ".join(f.accept))
    if f.max_size is not None and row.size > f.max_size:
        return _("The file is larger than {limit}.", locale, limit=size_words(f.max_size))
    return None


def _not_yours(f: FileValue, locale: str | None) -> str:
    # The same words whether the id names no file or someone else's: an id tells nothing.
    return _("'{id}' is not a file you uploaded for this form, nor a file of this record; "
             "upload the file again.", locale, id=f.id[:40])


def _refuse(found: list[tuple[FileValue, str | None]], locale: str | None) -> None:
    errors: dict[str, str] = {}
    for f, problem in found:
        if problem is not None:
            errors.setdefault(f.field, problem)
    if errors:
        raise FormInvalid.of([{"field": k, "message": v} for k, v in errors.items()], locale)


def upload(services: Services, username: str, filename: str, stream: IO[bytes]) -> dict[str, Any]:
    """One file posted on its own (``POST /api/v1/uploads``): the checks of a form's file
    (size, type by the first bytes, ``uploads.allowed_types``); ``{id, filename, size,
    content_type}``. The file is the uploader's until a submission of theirs records it
    (``bind``); one no submission records is swept after a day. Refused: ``InputTooLarge``
    (413) or ``FormInvalid`` (422), at the field ``file``."""
    new, refused = store_files(services, username, [Upload("file", "file", filename, stream)])
    if refused:
        error = InputTooLarge if refused[0].status == 413 else FormInvalid
        raise error(refused[0].message, errors=[{"field": "file", "message": refused[0].message}])
    with services.database.reading() as s:
        row = store.get_attachment(s, new["file"][0])
        return {"id": row.id, "filename": row.filename, "size": row.size, "content_type": row.content_type}


def _type(schema: Mapping[str, Any]) -> str | None:
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    if t is None and isinstance(schema.get("properties"), dict):
        return "object"
    return t


@dataclass
class Attachment:
    path: str
    filename: str
    content_type: str
    size: int


def attachment_infos_beside(services: Services, reader: Reader, attachment_id: str) -> dict[str, dict | None]:
    """Name, size and type of a file and of every other file of its instance (one read
    for a page that lists them all), of the files ``reader`` may download (``download``):
    an id that names no such file maps to None. A page shows the ids a form was posted
    with, so an id taken from elsewhere must tell nothing of its file or its neighbours."""
    with services.database.reading() as s:
        rows = store.attachments_beside(s, attachment_id)
        others = {row.instance_id for row in rows if row.uploaded_by != reader.username}
        readable = {iid for iid in others if iid is not None and _reads(services, s, reader, iid)}
        found: dict[str, dict | None] = {
            row.id: {"filename": row.filename, "size": row.size, "content_type": row.content_type}
            for row in rows if row.uploaded_by == reader.username or row.instance_id in readable}
    found.setdefault(attachment_id, None)
    return found


def _reads(services: Services, session: Session, reader: Reader, instance_id: str) -> bool:
    from engine.app import access

    try:
        access.require_instance(services.workflow, session, reader, instance_id)
    except (NotPermitted, NotFound):
        return False
    return True


def download(services: Services, reader: Reader, attachment_id: str) -> Attachment:
    """A file for its uploader, and for readers of its instance; 403 for anyone else.
    ``FileAltered`` when the file on disk is not the one its row records (SHA-256 and size):
    a replaced photo is not shown as the record's (``wf audit verify --files`` names it)."""
    shown: set[str] = set()
    view = ("", "")
    with services.database.reading() as s:
        row = store.get_attachment(s, attachment_id)
        if row.uploaded_by != reader.username:
            if row.instance_id is None or not _reads(services, s, reader, row.instance_id):
                raise NotPermitted(_("You may not download this file."))
            shown, view = _sensitive_file_seen(services, s, reader, row)
        found = Attachment(row.storage_path, row.filename, row.content_type, row.size)
        sha256 = row.sha256
        instance_id = row.instance_id
    if shown and instance_id is not None:
        record_views(services.database, reader, [(instance_id, view[0], shown)], view[1])
    # Read after the transaction: hashing a 10 MB file (about 20 ms) holds no connection.
    problem = disk_problem(found.path, sha256, found.size)
    if problem is not None:
        raise FileAltered(_("The file “{name}” on the server is not the file that was recorded ({problem}); it "
                            "is not shown. Ask an administrator to restore it from a backup.",
                            name=found.filename, problem=_(problem)))
    return found


def _sensitive_file_seen(services: Services, session: Session, reader: Reader,
                         row: Any) -> tuple[set[str], tuple[str, str]]:
    """For a reader of the record holding ``row``, not its uploader: the sensitive field the
    file is in (``masking.file_field``, from the record's trail) as the access log names it,
    with the procedure and the view to log it under; nothing for a file of no sensitive field.
    A reader who sees that field masked is refused, as the field's value is masked for them
    on every page: only readers with clearance, and whoever may act on an open task of the
    record (who sees it in clear on that task's page), download it."""
    from engine.app import access
    from engine.runtime import access as runtime_access

    wf = services.workflow
    inst, proc = access.require_instance(wf, session, reader, row.instance_id)
    keys = sensitive_keys(proc)
    if not keys:
        return set(), ("", "")
    recorded = [{"type": FILES_RECORDED, "step": e.step, "data": e.data}
                for e in store.events_of_type(session, row.instance_id, FILES_RECORDED)]
    top = held_file_field(keys, file_fields(keys, recorded), file_ref(row.id))
    if top is None:
        return set(), ("", "")
    if reader.cleared:
        return {top or "*"}, (proc.id, "file")
    actor = wf.actor(session, reader.username, proc)
    if any(t["status"] == "open" and runtime_access.may_act(t, actor) for t in inst["tasks"]):
        return {top or "*"}, (proc.id, "task")
    sid, _dot, name = top.partition(".")
    form = proc.form_of(sid) if sid == "start" or sid in proc.steps else None
    raise NotPermitted(_("You may not download this file: it is in the field “{field}”, which is masked for you. "
                         "Ask a data officer, or whoever works on the record's open task, for it.",
                         field=form.field_title(name, reader_locale()) if form is not None and name else "?"))


# Why a stored file is not the one recorded, in words (``disk_problem``).
_MISSING, _CHANGED = N_("it is missing"), N_("its content changed after it was uploaded")
_UNREADABLE = N_("it cannot be read")


def disk_problem(path: str, sha256: str, size: int) -> str | None:
    """Why the file at ``path`` is not the one recorded with ``sha256`` and ``size`` (a
    catalogue key, English), or None when it is."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size != size:
                return _CHANGED
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except FileNotFoundError:
        return _MISSING
    except OSError:  # a directory in its place, no permission: named, and the next file read
        return _UNREADABLE
    return None if digest.hexdigest() == sha256 else _CHANGED


SWEEP_AFTER = timedelta(days=1)


def sweep(services: Services, *, older_than: timedelta = SWEEP_AFTER) -> int:
    """Remove the files (and rows) of uploads no instance and no draft holds, posted more
    than ``older_than`` ago: those of refused submissions and abandoned forms. A refused
    form shows its files again for a while (the user may fix another field and send it
    again), so they are not removed at once. Returns how many."""
    return sweep_sessions(services.database, services.now(), older_than=older_than)


def sweep_sessions(database: Database | sessionmaker[Session], now: datetime, *,
                   older_than: timedelta = SWEEP_AFTER) -> int:
    """``sweep`` for the worker, which holds its ``Database`` rather than ``Services``. Its
    write waits in the write queue like every other (a bare session would take SQLite's
    lock outside it)."""
    from engine.app.database import Database
    from engine.store import upload_sweep

    if not isinstance(database, Database):
        database = Database(database.kw["bind"])
    with database.reading() as s:
        found = upload_sweep.unbound_before(s, now - older_than)
    if not found:
        return 0
    with database.writing() as s:
        gone = upload_sweep.forget(s, [i for i, _p in found])
    for attachment_id, path in found:  # after the commit: a row never points at a deleted file
        if attachment_id in gone:  # not one a submission bound meanwhile
            Path(path).unlink(missing_ok=True)
    return len(gone)
