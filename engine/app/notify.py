"""Notifications: derived from the runtime's events, kept in-app per user, and delivered by
e-mail (SMTP settings in ``config.yaml``) and signed webhooks, with retries and a log.

``record`` runs inside the use case's transaction, so a notification exists exactly when the
step that caused it was saved. ``deliver_due`` runs in the worker: it leases due deliveries,
sends them outside any transaction and records each attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.i18n import N_, gettext
from engine.store import timekeeping as tk
from engine.store.prepared import batch

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.app.database import Database
    from engine.config import Config
    from engine.language.procedure import Procedure

# Event type -> notification kind.
KINDS = {
    "task:created": "assigned",
    "task:reassigned": "assigned",
    "deadline:reminder": "reminder",
    "deadline:missed": "missed",
    "deadline:escalated": "escalated",
    "instance:completed": "completed",
    # task actions (engine.runtime.actions)
    "task:transferred": "transferred",
    "task:returned": "returned",
    "task:urged": "urged",
    "cc:sent": "cc",
}
ALL_KINDS = ("assigned", "reminder", "missed", "escalated", "completed", "transferred", "returned", "urged", "cc")

# What each kind of notification says, as catalog texts (engine/translations): the English
# is the key, each reader's language is looked up when the line is written for them.
_TEXT = {
    "assigned": N_("New task: {procedure} · {step}"),
    "sent_back": N_("Sent back: {procedure} · {step} ({returned_from}, {by}: {reason})"),
    "reminder": N_("Due soon: {procedure} · {step} ({due})"),
    "missed": N_("Overdue: {procedure} · {step} (was due {due})"),
    "escalated": N_("Escalated (level {level}): {procedure} · {step} (was due {due})"),
    "completed": N_("Completed: {procedure} (outcome: {outcome})"),
    "transferred": N_("Transferred to you: {procedure} · {step} (reason: {reason})"),
    "returned": N_("Returned to '{to}': {procedure} (reason: {reason})"),
    "urged": N_("Please hurry: {procedure} · {step}{note}"),
    "cc": N_("For your information: {procedure} · {step}{note}"),
    "sign_in_failed": N_("Failed sign-in to {user} (wrong password, from {address}); if it was not you, change your password and tell an administrator"),
    "locked_out": N_("{user} is locked out after repeated wrong passwords until {until} (from {address})"),
}


def _local(when: Any, zone: str, locale: str) -> str:
    """A stored UTC time as people read it: local time of the procedure's calendar, zone named.

    Notifications used to print the UTC text ("01:00" for nine in the morning in Beijing)
    while the inbox showed local times. Rows without a zone are in the default calendar's.
    """
    try:
        t = datetime.fromisoformat(str(when))
        tz = ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        return str(when or "")[:16].replace("T", " ")
    local = (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if zone == "Asia/Shanghai":
        return f"{local} 北京时间" if locale == "zh" else f"{local} Beijing time"
    return f"{local} {zone}"


def text(kind: str, data: Mapping[str, Any], locale: str = "zh") -> str:
    """One line saying what happened, in ``locale`` (zh or en), times in local time."""
    if kind == "assigned" and data.get("returned_from"):
        kind = "sent_back"  # the work came back after a rejection: say so, and why
    zone = str(data.get("timezone") or "Asia/Shanghai")
    due = _local(data["due_at"], zone, locale) if data.get("due_at") else ""
    line = gettext(_TEXT[kind], locale) if kind in _TEXT else kind
    return line.format(
        procedure=data.get("procedure_title") or data.get("procedure") or "",
        step=data.get("step_title") or data.get("step") or "", due=due,
        level=data.get("level", ""), outcome=data.get("outcome", ""),
        user=data.get("user", ""), address=data.get("address") or "?",
        returned_from=data.get("returned_from", ""), by=data.get("by", ""), reason=data.get("reason", ""),
        to=data.get("to_title") or "",
        note=gettext(" ({note})", locale, note=data["note"]) if data.get("note") else "",
        # the stored instant is UTC: say it in the reader's local time, as every other time
        until=_local(data["until"], zone, locale) if data.get("until") else "")


def wanted(events: Iterable[Mapping[str, Any]]) -> bool:
    """Whether any event calls for a notification (cheap: no database)."""
    return any(e["type"] in KINDS for e in events)


@dataclass(frozen=True)
class _Notice:
    kind: str
    users: frozenset[str]
    roles: frozenset[str]
    task: str | None
    data: dict[str, Any]
    # roles told instead when none of ``users`` is active (a holder since deactivated)
    fallback: frozenset[str] = frozenset()


def _notices(procedure: Procedure, state: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> list[_Notice]:
    out = []
    tasks = state.get("tasks", {})
    rejected: Mapping[str, Any] | None = None  # the rejection that opened the tasks after it
    for e in events:
        if e["type"] == "task:rejected":
            rejected = e
        kind = KINDS.get(e["type"])
        if kind is None:
            continue
        d = e.get("data") or {}
        task = tasks.get(e.get("task") or "") or {}
        if kind == "assigned" and not (d.get("role") or d.get("to") or d.get("assignee")):
            continue  # a wait step: nobody to tell
        step = procedure.steps.get(e.get("step") or "")
        data = {"procedure": procedure.id, "procedure_title": procedure.title,
                "step": e.get("step"), "step_title": step.title if step else e.get("step"),
                "audit_event": e["type"], "at": e["at"]}
        for key in ("due_at", "level", "to", "user", "fallback", "reason", "outcome", "note"):
            if d.get(key) is not None:
                data[key] = d[key]
        if kind == "assigned" and rejected is not None and e["type"] == "task:created":
            back = procedure.steps.get(rejected.get("step") or "")
            data.update(returned_from=back.title if back else rejected.get("step"), by=rejected.get("actor"),
                        reason=((rejected.get("data") or {}).get("data") or {}).get("comment", ""))
        users: set[str] = set()
        roles: set[str] = set()
        fallback: set[str] = set()
        if e["type"] in ("task:reassigned", "task:transferred"):
            users.add(d["to"])
        elif kind == "assigned" and d.get("assignee"):
            users.add(d["assignee"])  # a named approver of a multi-party approval: theirs alone
        elif kind == "returned":
            target = procedure.steps.get(d.get("to") or "")
            data["to_title"] = target.title if target else d.get("to")
            data["by"] = e["actor"]
            if target is not None and target.role:
                roles.add(target.role)  # the holders of the re-opened step
        elif kind in ("urged", "cc"):
            data["by"] = e["actor"]
            for who in d.get("holders") if kind == "urged" else d.get("to") or ():
                if who.startswith("user:"):
                    users.add(who[5:])
                elif who.startswith("role:"):
                    roles.add(who[5:])
                elif kind == "cc":
                    roles.add(who)
            if kind == "urged":
                users.update(h for h in d.get("holders") or () if ":" not in h)
                if task.get("role"):
                    fallback.add(task["role"])
        elif kind == "assigned":
            roles.add(d["role"])
        elif kind in ("reminder", "missed"):
            if task.get("assignee"):
                users.add(task["assignee"])
                if task.get("role"):
                    fallback.add(task["role"])
            elif task.get("role"):
                roles.add(task["role"])
        elif kind == "escalated":
            if d.get("user"):
                users.add(d["user"])
            elif d.get("to"):
                roles.add(d["to"])
        elif kind == "completed" and state.get("started_by") not in (None, "", "system"):
            users.add(state["started_by"])
        # a CC is read on the instance page; a returned task is closed (its step opens anew)
        task_id = f"{state['id']}.{e['task']}" if e.get("task") and kind not in ("cc", "returned") else None
        out.append(_Notice(kind, frozenset(users), frozenset(roles), task_id, data, frozenset(fallback)))
    return out


def record_many(session: Session, config: Config,
                items: Iterable[tuple[Procedure, Mapping[str, Any], Iterable[Mapping[str, Any]]]],
                now: datetime) -> None:
    """Store the notifications and deliveries that the events of ``items`` call for, in the
    caller's transaction (a worker batch)."""
    calls = writes(session, config, items, now)
    if calls:
        batch(session, calls)


def writes(session: Session, config: Config,
           items: Iterable[tuple[Procedure, Mapping[str, Any], Iterable[Mapping[str, Any]]]],
           now: datetime) -> list:
    """The inserts of the notifications and deliveries that the events of ``items`` call for
    (for ``prepared.batch``): one look-up of the people concerned, one insert per table,
    whatever the number of instances. A step sends them with its own writes."""
    found = [(proc, state, n) for proc, state, events in items for n in _notices(proc, state, events)]
    for proc, _state, n in found:
        if "due_at" in n.data:
            n.data["timezone"] = str((config.calendar(proc.calendar) or {}).get("timezone") or "Asia/Shanghai")
    if not found:
        return []
    # A task still held by someone since deactivated: its reminders and 催办 went to an
    # account that gets no notifications, and nobody heard them. The step's role hears them.
    named = {u for _, _, n in found if n.fallback and not n.roles for u in n.users}
    if named:
        active = set(tk.contacts(session, named))
        found = [(p, st, replace(n, roles=n.fallback) if n.fallback and not n.roles and not n.users & active
                  else n) for p, st, n in found]
    settings = Settings.from_config(config)
    group_of = {(p.id, r): config.groups_for_role(p.id, r) for p, _, n in found for r in n.roles}
    if not settings.smtp and not any(n.kind in h["events"] for h in settings.webhooks for _, _, n in found):
        # Nothing to send, so nothing needs the people's names or addresses here: each
        # notification is written for the users and the groups' members it names by an
        # INSERT ... SELECT, in the step's own round trip (no look-up before it).
        return tk.notify_people_writes([
            {"users": n.users, "groups": {g for r in n.roles for g in group_of[(proc.id, r)]},
             "kind": n.kind, "instance_id": state["id"], "task_id": n.task, "data": n.data,
             "created_at": now} for proc, state, n in found])
    by_group = tk.members(session, {g for gs in group_of.values() for g in gs})
    emails: dict[str, str | None] = {}
    for members in by_group.values():
        emails.update(members)
    direct = {u for _, _, n in found for u in n.users} - set(emails)
    emails.update(tk.contacts(session, direct))
    notes, mails, hooks = [], [], []
    for proc, state, n in found:
        people = {u for u in n.users if u in emails}
        for r in n.roles:
            for g in group_of[(proc.id, r)]:
                people.update(u for u, _ in by_group.get(g, ()))
        for user in sorted(people):
            notes.append({"username": user, "kind": n.kind, "instance_id": state["id"],
                          "task_id": n.task, "data": n.data, "created_at": now, "read_at": None})
            if settings.smtp and emails.get(user):
                mails.append(_delivery("email", emails[user], n.kind, settings.email(n, user, emails[user], state["id"]), now))
        for hook in settings.webhooks:
            if n.kind in hook["events"]:
                body = {**n.data, "event": n.kind, "instance": state["id"], "task": n.task,
                        "recipients": sorted(people)}
                hooks.append(_delivery("webhook", hook["url"], n.kind, body, now))
    return tk.notification_writes(notes, mails + hooks)


def _delivery(channel: str, target: str, kind: str, payload: dict, now: datetime) -> dict:
    return {"channel": channel, "target": target, "kind": kind, "payload": payload,
            "status": "pending", "attempts": 0, "next_attempt_at": now, "last_error": None,
            "created_at": now, "sent_at": None}


@dataclass(frozen=True)
class Settings:
    """The ``notifications:`` section of config.yaml."""

    smtp: Mapping[str, Any] | None
    webhooks: tuple[Mapping[str, Any], ...]
    base_url: str
    locale: str
    attempts: int
    backoff: float
    max_backoff: float
    lease: float

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        raw = config.get("notifications", default={}) or {}
        retry = raw.get("retry") or {}
        hooks = []
        for h in raw.get("webhooks") or []:
            secret = h.get("secret") or os.environ.get(h.get("secret_env") or "", "")
            hooks.append({"url": h["url"], "secret": secret, "secret_env": h.get("secret_env") or "",
                          "events": tuple(h.get("events") or ALL_KINDS),
                          "timeout": float(h.get("timeout", 10))})
        return cls(smtp=raw.get("smtp") or None, webhooks=tuple(hooks),
                   base_url=str(raw.get("base_url") or "").rstrip("/"),
                   locale=str(config.get("locale", default="zh")),
                   attempts=int(retry.get("attempts", 8)), backoff=float(retry.get("backoff_seconds", 30)),
                   max_backoff=float(retry.get("max_backoff_seconds", 3600)),
                   lease=float(retry.get("lease_seconds", 120)))

    def email(self, n: _Notice, user: str, address: str, instance_id: str) -> dict:
        # One line: a header holds no line break (the mail library refuses it, so a note typed
        # on two lines stopped the mail), and none can start a header of its own.
        subject = " ".join(text(n.kind, n.data, self.locale).split())
        link = f"{self.base_url}/tasks/{n.task}" if n.task and n.kind != "completed" else f"{self.base_url}/instances/{instance_id}"
        body = f"{subject}\n\n{text(n.kind, n.data, 'en' if self.locale == 'zh' else 'zh')}\n\n{link}\n"
        return {"to": address, "user": user, "subject": subject, "body": body}

    def timeout(self) -> float:
        """The longest a single try may wait for its receiver (SMTP or webhook), in seconds."""
        waits = [float((self.smtp or {}).get("timeout", 10))] if self.smtp else []
        return max(waits + [float(h["timeout"]) for h in self.webhooks] + [0.1])

    def retry_at(self, attempts: int, now: datetime) -> datetime | None:
        """When to try again after ``attempts`` failed tries (None: give up)."""
        if attempts >= self.attempts:
            return None
        return now + timedelta(seconds=min(self.backoff * 2 ** (attempts - 1), self.max_backoff))


# ---------------------------------------------------------------------------------------
# Sending (worker side)


def sign(secret: str, body: bytes) -> str:
    """The ``X-QualityFlow-Signature`` header value: HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers, not detours: urllib followed a 302 with a GET that carried no
    body (or went on to another host), and the 200 found there counted as delivered."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201, PLR0913
        return None  # urllib then raises HTTPError with the 3xx answer


_OPENER = urllib.request.build_opener(_NoRedirect)


class Unreachable(Exception):  # noqa: N818 - a reason, not a bug
    """The receiver did not answer (refused, timed out): the rest for it wait for the next try."""


def send_webhook(url: str, secret: str, delivery_id: int, kind: str, payload: Mapping[str, Any],
                 timeout: float = 10) -> str:
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "QualityFlow",
        "X-QualityFlow-Event": kind, "X-QualityFlow-Delivery": str(delivery_id),
        "X-QualityFlow-Signature": sign(secret, body)})
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            where = exc.headers.get("Location") or "?"
            raise RuntimeError(f"HTTP {exc.code} {exc.reason}: the receiver points to {where}; redirects are not "
                               "followed (the event would not arrive): put that URL under "
                               "'notifications.webhooks' in config.yaml") from None
        raise
    except (TimeoutError, ConnectionError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise Unreachable(f"no answer within {timeout:g} s (timed out); check the receiver, or raise "
                              "the webhook's 'timeout' in config.yaml") from None
        raise Unreachable(f"{type(reason).__name__}: {reason}") from None


def send_email(smtp: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    msg = EmailMessage()
    msg["From"] = smtp.get("from", "qualityflow@localhost")
    msg["To"] = payload["to"]
    msg["Subject"] = payload["subject"]
    msg.set_content(payload["body"])
    with smtplib.SMTP(smtp.get("host", "127.0.0.1"), int(smtp.get("port", 25)),
                      timeout=float(smtp.get("timeout", 10))) as conn:
        if smtp.get("starttls"):
            conn.starttls()
        if smtp.get("username"):
            conn.login(smtp["username"], smtp.get("password", ""))
        conn.send_message(msg)
    return "250 accepted"


def deliver_due(database: Database, config: Config, now: datetime, *, limit: int = 100) -> tuple[int, int]:
    """Send what is due; returns (sent, failed attempts).

    Leased a few at a time, no more than can be sent within the lease even if each try
    waits out its timeout: a worker that leased 100 and sent them one by one past the lease
    had a second worker lease and send the same ones again. A receiver that does not answer
    costs one timeout per pass: the rest for it wait, their tries unused, for the same
    back-off as the one that failed, so reminders and escalations are not held up."""
    settings = Settings.from_config(config)
    hooks = {h["url"]: h for h in settings.webhooks}
    lease = timedelta(seconds=settings.lease)
    chunk = max(1, min(limit, int(settings.lease // (2 * settings.timeout()))))
    down: dict[str, datetime] = {}  # webhook URL, or "email" for the SMTP server -> next try
    sent = failed = done = 0

    def blocked(d: Mapping[str, Any]) -> datetime | None:
        return down.get("email" if d["channel"] == "email" else d["target"])

    started = time.monotonic()
    while done < limit:
        began = time.monotonic()
        # ``now`` was read when the call began: a lease taken later runs from its own time
        with database.writing() as s:
            due = tk.lease_deliveries(s, now, min(chunk, limit - done), lease + timedelta(seconds=began - started),
                                      skip_targets={t for t in down if t != "email"},
                                      skip_channels={"email"} & set(down))
            # An e-mail queued before its addressee was deactivated is not theirs to read now.
            addressees = {d["payload"].get("user") or "" for d in due if d["channel"] == "email"} - {""}
            gone = addressees - set(tk.contacts(s, addressees))
        if not due:
            break
        done += len(due)
        for i, d in enumerate(due):
            # A lease about to run out (a slow try before this one) is given back, not used:
            # another worker may take it as soon as it has.
            late = i > 0 and time.monotonic() - began > settings.lease - settings.timeout()
            if late or blocked(d):
                with database.writing() as s:
                    tk.release_deliveries(s, [(x["id"], blocked(x) or now) for x in due[i:]])
                break
            unreachable = False
            permanent = False
            try:
                if d["channel"] == "email" and d["payload"].get("user") in gone:
                    permanent = True
                    raise RuntimeError(f"the account {d['payload'].get('user')} was deactivated before this was "
                                       "sent; not sent")
                if d["channel"] == "email":
                    if not settings.smtp:
                        raise RuntimeError("no 'notifications.smtp' in config.yaml; add host and port")
                    detail = send_email(settings.smtp, d["payload"])
                elif (hook := hooks.get(d["target"])) is None:
                    raise RuntimeError("this webhook URL is no longer under 'notifications.webhooks' in "
                                       "config.yaml; add it back (with its secret) to deliver")
                elif not hook["secret"]:
                    # Signed with an empty key, an event is one anyone could forge.
                    where = (f"environment variable {hook['secret_env']} is not set in the server's environment"
                             if hook["secret_env"] else "it has no 'secret' nor 'secret_env'")
                    raise RuntimeError(f"this webhook's secret is empty ({where}); events are not signed with "
                                       "an empty key, so none is sent: set it and the tries go on")
                else:
                    detail = send_webhook(d["target"], hook["secret"], d["id"], d["kind"], d["payload"],
                                          timeout=hook["timeout"])
                ok = True
            except Unreachable as exc:
                ok, detail, unreachable = False, str(exc), True
            except urllib.error.HTTPError as exc:
                ok, detail = False, f"HTTP {exc.code} {exc.reason}"
            except OSError as exc:  # smtplib's errors are OSErrors too
                ok, detail = False, f"{type(exc).__name__}: {exc}"
                refusals = getattr(exc, "recipients", None) if isinstance(exc, smtplib.SMTPRecipientsRefused) else None
                if refusals and all(int(code) >= 500 for code, _msg in refusals.values()):
                    # 5xx: the server will refuse this address on every try; only a corrected
                    # address helps, and the tries would only put that off
                    permanent = True
                    said = "; ".join(f"{code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
                                     for code, msg in refusals.values())
                    detail = (f"the mail server refuses this address for good ({said}): correct the user's "
                              "e-mail on the Users page, then queue it again; not retried")
                # the SMTP server is down or silent: the same for every address (but not when
                # it answered, say refusing this one address)
                answered = isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused)
                unreachable = not answered or isinstance(exc, smtplib.SMTPConnectError)
            except Exception as exc:  # noqa: BLE001 - every failure is logged and retried
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            retry_at = None if ok or permanent else settings.retry_at(d["attempts"], now)
            with database.writing() as s:
                tk.finish_delivery(s, d["id"], ok=ok, detail=detail, now=now, retry_at=retry_at)
            if unreachable:
                down["email" if d["channel"] == "email" else d["target"]] = (
                    retry_at or now + timedelta(seconds=settings.backoff))
            sent += ok
            failed += not ok
    return sent, failed
