"""Review (reviewers): the queue of resources asking for wider visibility.

A resource published beyond its school (district, city, public) waits here until a
reviewer or administrator of the organisation that visibility reaches approves it or
rejects it with a reason (the rules are :func:`repo_app.security.can_publish_to`);
the uploader is told in their workspace (:func:`repo_app.services.resources.review`).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import TextAreaField
from wtforms.validators import Length, Optional

from repo_app.auth import current_principal
from repo_app.errors import Conflict, ValidationError
from repo_app.extensions import db
from repo_app.models import Resource, Role
from repo_app.services import indexing, resources
from repo_app.web import nav
from repo_app.web.access import role_required
from repo_app.web.forms import KejianForm
from repo_app.web.labels import VISIBILITY_SHORT

bp = Blueprint("review", __name__, url_prefix="/review")

nav.add(
    "review.queue",
    _l("Review"),
    order=40,
    visible=nav.has_role(Role.REVIEWER, Role.ADMIN),
)

reviewer_required = role_required(Role.REVIEWER, Role.ADMIN)


class DecisionForm(KejianForm):
    note = TextAreaField(
        _l("Reason"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Needed to reject; the uploader reads it."),
        render_kw={"rows": 2},
    )


def _form(resource: Resource) -> DecisionForm:
    # A prefix per resource: every form of the queue has fields of its own.
    return DecisionForm(prefix=f"r{resource.id}")


@bp.get("/")
@reviewer_required
def queue() -> str:
    waiting = resources.review_queue(current_principal())
    return _render(waiting, {r.id: _form(r) for r in waiting})


def _render(waiting: list[Resource], forms: dict[int, DecisionForm]) -> str:
    return render_template(
        "review/queue.html",
        waiting=waiting,
        forms=forms,
        visibility=VISIBILITY_SHORT,
    )


@bp.post("/<int:resource_id>")
@reviewer_required
def decide(resource_id: int) -> Response | str:
    principal = current_principal()
    resource = resources.get(principal, resource_id)
    form = _form(resource)
    approve = request.form.get("decision") == "approve"
    if form.validate_on_submit():
        try:
            resources.review(principal, resource_id, approve, form.note.data or "")
            db.session.commit()
            indexing.after_commit()
        except ValidationError:
            db.session.rollback()
            form.fail("note", _("Say why it is rejected: the uploader reads it."))
        except Conflict:
            db.session.rollback()
            flash(
                _("Someone has decided on “%(title)s” already.", title=resource.title)
            )
            return redirect(url_for("review.queue"), code=303)
        else:
            message = (
                _("“%(title)s” is published.", title=resource.title)
                if approve
                else _(
                    "“%(title)s” was sent back to its uploader.", title=resource.title
                )
            )
            flash(message, "ok")
            return redirect(url_for("review.queue"), code=303)
    # The same queue, with this resource's error next to its reason field.
    waiting = resources.review_queue(principal)
    forms = {r.id: form if r.id == resource_id else _form(r) for r in waiting}
    return _render(waiting, forms)
