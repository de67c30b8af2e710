"""The organisation chart as the runtime sees it: a frozen snapshot passed to ``Runtime.apply``.

Approvers such as "the starter's manager", "two levels up" or "the head of the department
recorded in ``start.dept``" are resolved when a step is entered, which happens inside
``apply``; the runtime does no I/O, so the application layer loads the chart (departments
with their parent and head, each user's department and manager) and hands a snapshot in.
The same snapshot type serves ``wf simulate`` and the tests, built from plain mappings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["EMPTY_ORG", "Department", "OrgChart"]


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    parent: str | None = None
    head: str | None = None  # user name


def _frozen(m: Mapping[str, object] | None) -> Mapping[str, object]:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True)
class OrgChart:
    """Departments (a tree, each with a head) and users' department and manager.

    Every lookup answers None rather than raising: what to do when an approver resolves to
    nobody is the procedure's policy, decided by the caller."""

    departments: Mapping[str, Department] = field(default_factory=dict)
    user_department: Mapping[str, str] = field(default_factory=dict)
    user_manager: Mapping[str, str] = field(default_factory=dict)
    # Raised by the application layer whenever the chart changes; lets callers cache snapshots.
    version: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "departments", _frozen(self.departments))
        object.__setattr__(self, "user_department", _frozen(self.user_department))
        object.__setattr__(self, "user_manager", _frozen(self.user_manager))

    def department_of(self, user: str) -> str | None:
        return self.user_department.get(user)

    def manager_of(self, user: str, levels: int = 1) -> str | None:
        """The manager ``levels`` up the chain (1: the direct manager). A user without a
        manager falls back to the head of their department (or of its parent when they head
        it themselves). None when the chain ends first or loops."""
        current: str | None = user
        seen = {user}
        for _ in range(max(levels, 1)):
            nxt = self._direct_manager(current) if current else None
            if nxt is None or nxt in seen:
                return None
            seen.add(nxt)
            current = nxt
        return current

    def _direct_manager(self, user: str) -> str | None:
        manager = self.user_manager.get(user)
        if manager:
            return manager
        dept = self.departments.get(self.user_department.get(user, ""))
        seen: set[str] = set()
        while dept is not None and dept.id not in seen:
            seen.add(dept.id)
            if dept.head and dept.head != user:
                return dept.head
            dept = self.departments.get(dept.parent or "")
        return None

    def head_of(self, department: str, levels: int = 0, *, not_user: str | None = None) -> str | None:
        """The head of ``department`` (an id or a name), or of the department ``levels`` above
        it. None for an unknown department or a missing head. ``not_user`` (the starter of a
        request) is passed over: where they head that department, the head of the first
        department above with another head, as ``manager_of`` goes up for a head."""
        dept = self.find_department(department)
        for _ in range(max(levels, 0)):
            if dept is None:
                return None
            dept = self.departments.get(dept.parent or "")
        seen: set[str] = set()
        while dept is not None and not_user is not None and dept.head == not_user and dept.id not in seen:
            seen.add(dept.id)
            dept = self.departments.get(dept.parent or "")
        return dept.head if dept is not None and dept.head != not_user else None

    def find_department(self, key: str) -> Department | None:
        dept = self.departments.get(key)
        if dept is not None:
            return dept
        for d in self.departments.values():
            if d.name == key:
                return d
        return None

    def members_of(self, department: str) -> list[str]:
        dept = self.find_department(department)
        if dept is None:
            return []
        return sorted(u for u, d in self.user_department.items() if d == dept.id)


EMPTY_ORG = OrgChart()
