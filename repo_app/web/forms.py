"""The base of every form of the pages, and the account forms.

Subclass :class:`KejianForm` (a Flask-WTF form: it carries the CSRF token) and render
it with the macros of :file:`templates/macros/forms.html`, which put each error next to
its field. A form posts to the address of the page that shows it; then, when its
session expired while it was open, the values typed come back after signing in (see
:mod:`repo_app.web.drafts`). Messages are lazy strings, translated when shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from repo_app.errors import Conflict, ValidationError
from repo_app.extensions import db
from repo_app.services.accounts import MIN_PASSWORD
from repo_app.web import drafts

T = TypeVar("T")


class KejianForm(FlaskForm):
    """A form that refills itself from a draft kept when its session expired.

    :attr:`restored` is True when it did, so the page can say so.
    """

    #: Names the form in a kept draft, so that a page with several forms refills the
    #: one that was sent. Rendered by ``form.hidden_tag()``.
    form_name = HiddenField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.restored = False
        name = type(self).__name__
        if request.method == "GET" and "formdata" not in kwargs:
            kept = drafts.take(request.path, name)
            if kept is not None:
                kwargs["formdata"] = kept
                self.restored = True
        super().__init__(*args, **kwargs)
        self.form_name.data = name

    def fail(self, field: str, message: str) -> None:
        """Show *message* next to *field* (for errors found after validation, such as
        a service's ``ValidationError`` naming the field in ``details["field"]``)."""
        target = getattr(self, field, None)
        if target is None:
            self.form_errors.append(message)
            return
        target.errors = [*target.errors, message]  # type: ignore[has-type]


def commit_or_show(
    form: KejianForm, action: Callable[[], T], messages: Mapping[str, str]
) -> T | None:
    """Run *action* (one service call), commit, and return its result.

    When the service refuses the input (:class:`~repo_app.errors.ValidationError` or
    :class:`~repo_app.errors.Conflict`), roll back, show the refusal next to the field
    its ``details["field"]`` names (or above the form) and return None. The message
    shown is ``messages["<field>:<error code>"]``, else ``messages["<field>"]`` (texts
    in the page's language), else the service's own message. Other errors (not found,
    forbidden) go on to the error page.
    """
    try:
        result = action()
        db.session.commit()
    except (ValidationError, Conflict) as exc:
        db.session.rollback()
        field = str(exc.details.get("field") or "")
        message = messages.get(f"{field}:{exc.code}") or messages.get(field)
        form.fail(field or "form", message or exc.message)
        return None
    return result


def required() -> DataRequired:
    return DataRequired(message=_l("This field is required."))


class LoginForm(KejianForm):
    username = StringField(
        _l("Username"),
        validators=[required(), Length(max=64)],
        render_kw={"autocomplete": "username", "autocapitalize": "none"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[required()],
        render_kw={"autocomplete": "current-password"},
    )


class PasswordChangeForm(KejianForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[required()],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        _l("New password"),
        validators=[
            required(),
            Length(
                min=MIN_PASSWORD,
                max=200,
                message=_l(
                    "Use %(min)d to %(max)d characters.", min=MIN_PASSWORD, max=200
                ),
            ),
        ],
        description=_l("At least %(min)d characters.", min=MIN_PASSWORD),
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[
            required(),
            EqualTo("new_password", message=_l("The two new passwords differ.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
