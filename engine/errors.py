"""One error root for the engine; ``web/errors.py`` maps these to HTTP in one place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict


class FieldError(TypedDict):
    """One problem of a submission or a definition: where (a dotted field path, ``""`` for
    the whole, or ``FILE:LINE:COL``) and what, for people."""

    field: str
    message: str


class ErrorBody(TypedDict):
    """What a :class:`WorkflowError` says to a client (the API's JSON error)."""

    code: str
    message: str
    errors: list[FieldError]


class WorkflowError(Exception):
    """Root of every error a user can cause. ``code`` is stable; ``message`` is for people."""

    code = "workflow_error"

    def __init__(self, message: str, *, errors: Sequence[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors: Sequence[FieldError] = errors or []

    def to_dict(self) -> ErrorBody:
        return {"code": self.code, "message": self.message, "errors": list(self.errors)}


@dataclass(frozen=True, order=True)
class Problem:
    """One problem found in a procedure or form file, located in its YAML source."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class DefinitionInvalid(WorkflowError):
    """A procedure or form file has problems; ``problems`` lists every one of them."""

    code = "definition_invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__(
            "\n".join(str(p) for p in self.problems),
            errors=[{"field": f"{p.file}:{p.line}:{p.col}", "message": p.message} for p in self.problems],
        )


class ExpressionError(WorkflowError):
    """An expression failed to compile or to evaluate (syntax, sandbox, time or size limit)."""

    code = "expression_error"


class Conflict(WorkflowError):
    """Someone else changed the record first (stale version or duplicate submission)."""

    code = "conflict"


class FileAltered(WorkflowError):
    """A stored file is not the file that was recorded (changed or removed on the server)."""

    code = "file_altered"


class RecordDamaged(WorkflowError):
    """A record cannot be shown because a hand outside the application wrote into it (or its
    trail) what the application never writes; ``check`` is what its integrity check found,
    ``message`` that finding in the reader's language."""

    code = "record_damaged"

    def __init__(self, message: str, check: Any) -> None:
        super().__init__(message)
        self.check = check


class CommandRejected(WorkflowError):
    """The runtime refused a command; the instance state is unchanged."""

    code = "command_rejected"


class NotFound(CommandRejected):
    code = "not_found"


class NotPermitted(CommandRejected):
    code = "forbidden"


class TaskClosed(CommandRejected, Conflict):
    """The task was already completed, cancelled or belongs to an instance that has ended."""

    code = "task_closed"


class InstanceClosed(CommandRejected):
    code = "instance_closed"


class FormInvalid(CommandRejected):
    """Submitted data fails the step's form; ``errors`` is a list of ``{field, message}``."""

    code = "invalid_form"

    @classmethod
    def of(cls, errors: Sequence[FieldError], locale: str | None = None) -> FormInvalid:
        """The refusal of a form with these field errors, summed up in ``locale`` (the
        reader's by default)."""
        from engine.i18n import _

        n = len(errors)
        return cls(_("the form has {n} error{s}; correct and submit again", locale, n=n, s="s" if n > 1 else ""),
                   errors=errors)


class SignatureInvalid(CommandRejected):
    """A signature is missing, has the wrong meaning, or its password did not match."""

    code = "signature_invalid"


class QueryInvalid(WorkflowError):
    """A filter, sort or range that records cannot be asked for (the request is at fault)."""

    code = "bad_request"


class Busy(WorkflowError):
    """The database could not take this write in time (its write lock stayed taken); nothing
    was recorded, and the same request may be sent again after ``retry_after`` seconds."""

    code = "busy"

    def __init__(self, message: str, *, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class StorageFull(Busy):
    """The server's storage refused the write (disk full, read-only or failing): like ``Busy``
    nothing was recorded and the request may be sent again, but only once an administrator
    has made room, so pages keep what was typed exactly as for ``Busy``."""

    code = "storage_full"


class InputTooLarge(WorkflowError):
    """An upload or text beyond the bounds the server reads (size, inflated size, entries):
    refused before it costs time or memory."""

    code = "too_large"


class TooSoon(CommandRejected):
    """An action repeated before it may be (a second 催办 within the hour): ``retry_after``
    seconds until it is allowed again."""

    code = "too_soon"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}
