"""What a launching person may do in Kejian, from the LTI roles claim.

Course (context) roles decide when present: Canvas sends institution roles on every
launch, so an administrator enrolled as a student must count as a learner there.
Roles arrive as full URIs (``http://purl.imsglobal.org/vocab/lis/v2/membership#
Instructor``), as sub-roles (``…/membership/Instructor#TeachingAssistant``) or as the
short names of LTI 1.1 (``Instructor``). Without a context role, or with none Kejian
knows, the person gets the least rights: viewing what was placed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"

#: Context roles that may add resources to a course (Deep Linking).
_TEACHING = {"Instructor", "Administrator", "ContentDeveloper", "TeachingAssistant"}


class CourseRole(enum.StrEnum):
    INSTRUCTOR = "instructor"  # may deep-link and view
    LEARNER = "learner"  # may view what was placed, nothing else


def _parse(role: str) -> tuple[str, str]:
    """(kind, name): kind is ``context``, ``institution``, ``system`` or ``unknown``."""
    role = role.strip()
    if role.startswith(LIS):
        rest = role[len(LIS) :]
        path, _, name = rest.partition("#")
        if path.startswith("membership"):
            # "membership/Instructor#TeachingAssistant" is a sub-role of Instructor:
            # the part after '#' names it either way.
            return "context", name
        if path.startswith("institution/"):
            return "institution", name
        if path.startswith("system/"):
            return "system", name
        return "unknown", name
    if "/" not in role and "#" not in role and role:
        # LTI 1.1 short names are context roles.
        return "context", role
    return "unknown", role


def course_role(roles: Iterable[object]) -> CourseRole:
    """The person's rights for a launch carrying the roles claim *roles*."""
    parsed = [_parse(r) for r in roles if isinstance(r, str)]
    context = {name for kind, name in parsed if kind == "context"}
    if context:
        return CourseRole.INSTRUCTOR if context & _TEACHING else CourseRole.LEARNER
    # Institution and system roles (all that some Open edX launches carry) say
    # nothing about this course: least privilege.
    return CourseRole.LEARNER
