"""Accounts: sign in, sign out and change the password.

Community learners need no account; these pages are for the schools' staff.
"""

from __future__ import annotations

import math

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from repo_app.auth import SessionUser
from repo_app.models import User
from repo_app.services import accounts
from repo_app.web import nav
from repo_app.web.access import login_required, pop_next
from repo_app.web.forms import LoginForm, PasswordChangeForm, commit_or_show
from repo_app.web.throttle import failed_logins, login_key

bp = Blueprint("accounts", __name__)

nav.add("accounts.password", _l("My account"), order=95, visible=nav.signed_in)

#: Session keys that survive signing in (the rest is cleared against fixation).
_KEPT_ON_LOGIN = ("next", "draft", "_flashes")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int, dict[str, str]]:
    if current_user.is_authenticated:
        return redirect(pop_next(), code=303)
    form = LoginForm()
    if form.validate_on_submit():
        key = login_key(form.username.data or "", request.remote_addr)
        wait = failed_logins().blocked_for(key)
        if wait:
            minutes = math.ceil(wait / 60)
            message = _(
                "Too many failed attempts. Try again in %(num)d minutes.", num=minutes
            )
            form.fail("password", message)
            # The page says why; the status and Retry-After say it to programs.
            page = render_template("accounts/login.html", form=form)
            return page, 429, {"Retry-After": str(math.ceil(wait))}
        user = _check_password(form, key)
        if user is not None:
            _start_session(user)
            name = user.display_name or user.username
            flash(_("Signed in as %(name)s.", name=name), "ok")
            return redirect(pop_next(), code=303)
    return render_template("accounts/login.html", form=form)


def _check_password(form: LoginForm, key: str) -> User | None:
    """The user *form* names when its password is right; else None, with the reason
    next to the password field."""
    user = accounts.authenticate(form.username.data or "", form.password.data or "")
    if user is None:
        failed_logins().failed(key)
        form.fail("password", _("Wrong username or password."))
        return None
    failed_logins().succeeded(key)
    return user


def _start_session(user: User) -> None:
    # A new session for the signed-in user (against session fixation), keeping only
    # where to go next, a kept form and the messages to show.
    kept = {k: session[k] for k in _KEPT_ON_LOGIN if k in session}
    session.clear()
    session.update(kept)
    session.permanent = True
    login_user(SessionUser(user))


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    session.clear()
    flash(_("You have signed out."), "ok")
    return redirect(url_for("pages.home"), code=303)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password() -> Response | str:
    form = PasswordChangeForm()
    if form.validate_on_submit():
        user = current_user.user
        changed = commit_or_show(
            form,
            lambda: accounts.change_password(
                user, form.current_password.data or "", form.new_password.data or ""
            ),
            {
                "current_password": _("The current password is wrong."),
                "new_password": _("Choose a longer password."),
            },
        )
        if changed is not None:
            # Sessions remember a fingerprint of the password: every other session of
            # this user ends now; this one goes on under the new fingerprint.
            login_user(SessionUser(user))
            flash(_("Your password has been changed."), "ok")
            return redirect(url_for("accounts.password"), code=303)
    return render_template("accounts/password.html", form=form)
