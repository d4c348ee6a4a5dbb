"""Why an LTI request was refused, and what the platform's administrator should check.

Every refusal is a :class:`LtiProblem`: a :class:`~repo_app.errors.KejianError` with a
``hint`` for the administrator and the registration it concerns, and a
``summary`` in the page's language for the teacher or learner in front of it (the
message and hint are technical, in English, for whoever reads the logs).
:func:`problem_response` logs it with both and answers with a page that fits an LMS
frame, or with Kejian's JSON error when the client asks for JSON. The pylti1p3
exceptions are translated at the boundary by :func:`from_library`.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, current_app, g, jsonify, render_template
from flask_babel import lazy_gettext as _l
from pylti1p3.exception import (
    LtiException,
    LtiInvalidNonceException,
    LtiKeyException,
    OIDCException,
)

from repo_app.errors import KejianError, wants_json

log = logging.getLogger("kejian.lti")


class LtiProblem(KejianError):
    """An LTI request Kejian refuses; nothing was changed."""

    status = 400
    code = "lti_bad_request"
    #: What happened, for the person in front of the page, in its language.
    summary = _l("The course platform sent a request Kejian cannot use.")
    #: What the administrator should check when the raiser gives no better hint.
    default_hint = (
        "Check how the platform is configured for Kejian ('kejian lti list')."
    )

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        registration: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.hint = hint or self.default_hint
        self.registration = registration


class LtiForbidden(LtiProblem):
    status = 403
    code = "lti_forbidden"
    summary = _l("This cannot be opened from here.")


class LtiNotFound(LtiProblem):
    status = 404
    code = "lti_not_found"
    summary = _l("What this link points to cannot be found, or is not shared here.")


class LtiTooLarge(LtiProblem):
    status = 413
    code = "lti_too_large"
    summary = _l("The course platform sent more than Kejian accepts.")


class UnknownRegistration(LtiProblem):
    status = 400
    code = "lti_unknown_registration"
    summary = _l("This course platform is not connected to Kejian yet.")


class AmbiguousRegistration(LtiProblem):
    status = 400
    code = "lti_ambiguous_registration"
    summary = _l("Kejian cannot tell which connection of this course platform is meant.")


class RegistrationNotActive(LtiForbidden):
    code = "lti_registration_not_active"
    summary = _l(
        "This course platform's connection to Kejian is waiting for approval or "
        "switched off."
    )


class UnknownDeployment(LtiForbidden):
    code = "lti_unknown_deployment"
    summary = _l("This part of the course platform is not connected to Kejian.")


class InvalidToken(LtiForbidden):
    """The id_token is malformed, unsigned, expired, misaddressed or replayed."""

    code = "lti_invalid_token"
    summary = _l("This launch could not be verified: open it again from the course.")
    default_hint = (
        "Check the platform's registration of Kejian (client id, deployment id, "
        "keys) and its clock. Each launch is accepted once: launch again from the "
        "course."
    )


class KeySetProblem(LtiForbidden):
    code = "lti_key_set"
    summary = _l("The course platform's signature on this launch cannot be checked.")


class StateMissing(LtiProblem):
    """The launch came without the tool's cookie: "continue in a new window"."""

    status = 400
    code = "lti_cookie_missing"

    def __init__(
        self, message: str, *, continue_url: str | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.continue_url = continue_url


def from_library(exc: Exception, registration: str | None = None) -> LtiProblem:
    """Translate a pylti1p3 exception into a problem with a hint."""
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, LtiInvalidNonceException):
        return InvalidToken(
            f"The launch's nonce is not one Kejian issued: {text}",
            hint="Launch again from the course; a reused or forged id_token is "
            "refused.",
            registration=registration,
        )
    if isinstance(exc, LtiKeyException):
        return KeySetProblem(
            f"The id_token's signature cannot be checked: {text}",
            hint="Check the registration's key-set URL and that the platform signs "
            "with a "
            "key listed there.",
            registration=registration,
        )
    if isinstance(exc, OIDCException):
        return LtiProblem(
            f"The login request cannot be used: {text}",
            hint="The platform must send iss, login_hint and target_link_uri.",
            registration=registration,
        )
    if isinstance(exc, LtiException):
        return InvalidToken(
            f"The launch message is not valid: {text}",
            hint="Check the LTI claims the platform sends (version 1.3.0, roles, sub, "
            "resource link or deep-linking settings).",
            registration=registration,
        )
    return LtiProblem(text, registration=registration)


def problem_response(problem: LtiProblem) -> tuple[Response | str, int]:
    """Log *problem* with its registration and reason, and answer it."""
    log.warning(
        "LTI request refused: code=%s registration=%s reason=%s",
        problem.code,
        problem.registration or "-",
        problem.message,
    )
    if wants_json():
        body: dict[str, Any] = {
            "code": problem.code,
            "message": problem.message,
            "details": {
                **problem.details,
                "hint": problem.hint,
                "registration": problem.registration,
            },
        }
        if g.get("request_id"):
            body["request_id"] = g.request_id
        return jsonify(error=body), problem.status
    template = (
        "lti/cookie.html" if isinstance(problem, StateMissing) else "lti/error.html"
    )
    return (
        render_template(
            template,
            problem=problem,
            continue_url=getattr(problem, "continue_url", None),
            request_id=g.get("request_id", ""),
            debug=current_app.debug,
        ),
        problem.status,
    )
