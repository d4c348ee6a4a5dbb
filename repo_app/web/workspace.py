"""My workspace: my uploads and their states, notifications, favourites, collections
and recently viewed resources; and a shared collection opened by its link (``/c/``).

The lists and rules are in :mod:`repo_app.services.workspace`.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from repo_app.auth import current_principal
from repo_app.errors import KejianError, ValidationError
from repo_app.extensions import db
from repo_app.models import Visibility, parse_id
from repo_app.services import uploads, workspace
from repo_app.web import nav
from repo_app.web.access import login_required
from repo_app.web.forms import KejianForm, required
from repo_app.web.https import external_url
from repo_app.web.i18n import local_path
from repo_app.web.labels import VISIBILITY_LABELS

bp = Blueprint("workspace", __name__)

nav.add("workspace.index", _l("My workspace"), order=50, visible=nav.signed_in)

AUDIENCE_LABELS = {
    Visibility.OWNER: _l("Only me"),
    **{v: VISIBILITY_LABELS[v] for v in list(Visibility)[1:]},
}


class CollectionForm(KejianForm):
    title = StringField(_l("Title"), validators=[required(), Length(max=200)])
    description = TextAreaField(
        _l("Description"),
        validators=[Optional(), Length(max=5000)],
        render_kw={"rows": 2},
    )
    audience = SelectField(
        _l("Who may open it by its link"),
        choices=[SelectChoice(v.value, AUDIENCE_LABELS[v]) for v in Visibility],
        default=Visibility.OWNER.value,
        description=_l(
            "Counted from your school. Each person sees only the resources in it that "
            "they may see themselves."
        ),
    )


def _back(default: str) -> Response:
    return redirect(local_path(request.form.get("next"), default), code=303)


@bp.route("/workspace", methods=["GET", "POST"])
@login_required
def index() -> Response | str:
    principal = current_principal()
    form = CollectionForm()
    if form.validate_on_submit():
        try:
            collection = workspace.create_collection(
                principal,
                form.title.data or "",
                form.description.data or "",
                Visibility(form.audience.data),
            )
            db.session.commit()
        except ValidationError as exc:
            db.session.rollback()
            form.fail("title", exc.message)
        else:
            flash(
                _("The collection “%(title)s” has been made.", title=collection.title),
                "ok",
            )
            return redirect(
                url_for("workspace.collection", collection_id=collection.id), code=303
            )
    mine = workspace.my_resources(principal)
    return render_template(
        "workspace/index.html",
        notifications=workspace.notifications(principal),
        unread=workspace.unread_count(principal),
        mine=mine,
        decisions=workspace.last_decisions([r.id for r in mine]),
        unfinished=uploads.recent_uploads(principal),
        favourites=workspace.favourites(principal),
        collections=workspace.collections(principal),
        recent=workspace.recently_viewed(principal),
        form=form,
        audiences=AUDIENCE_LABELS,
    )


@bp.post("/workspace/notifications/read")
@login_required
def read_all() -> Response:
    workspace.mark_all_read(current_principal())
    db.session.commit()
    return redirect(url_for("workspace.index"), code=303)


@bp.post("/workspace/favourites/<int:resource_id>")
@login_required
def favourite(resource_id: int) -> Response:
    """Add (``on=1``) or remove a favourite; back to ``next`` (a local path)."""
    on = request.form.get("on") == "1"
    workspace.set_favourite(current_principal(), resource_id, on)
    db.session.commit()
    flash(
        _("Added to your favourites.") if on else _("Removed from your favourites."),
        "ok",
    )
    return _back(url_for("workspace.index"))


@bp.route("/workspace/collections/<int:collection_id>", methods=["GET", "POST"])
@login_required
def collection(collection_id: int) -> Response | str:
    principal = current_principal()
    collection = workspace.own_collection(principal, collection_id)
    form = CollectionForm(obj=collection if request.method == "GET" else None)
    if request.method == "GET" and not form.restored:
        form.audience.data = collection.audience.value
    if form.validate_on_submit():
        workspace.update_collection(
            principal,
            collection_id,
            form.title.data or "",
            form.description.data or "",
            Visibility(form.audience.data),
        )
        db.session.commit()
        flash(_("The collection has been saved."), "ok")
        return redirect(
            url_for("workspace.collection", collection_id=collection_id), code=303
        )
    return render_template(
        "workspace/collection.html",
        collection=collection,
        form=form,
        audiences=AUDIENCE_LABELS,
        share_url=external_url("workspace.shared", slug=collection.slug),
    )


@bp.post("/workspace/collect")
@login_required
def add_item() -> Response:
    """Put ``resource_id`` in the collection ``collection_id``; back to ``next``."""
    principal = current_principal()
    collection_id = _number(request.form.get("collection_id"))
    try:
        collection = workspace.add_to_collection(
            principal, collection_id, _number(request.form.get("resource_id"))
        )
        db.session.commit()
    except ValidationError:
        db.session.rollback()
        flash(_("This collection is full."), "error")
    except KejianError:
        db.session.rollback()
        flash(_("That resource cannot be added."), "error")
    else:
        flash(_("Added to “%(title)s”.", title=collection.title), "ok")
    return _back(url_for("workspace.index"))


def _number(raw: str | None) -> int:
    return parse_id(raw) or 0


@bp.post("/workspace/collections/<int:collection_id>/items/<int:resource_id>/remove")
@login_required
def remove_item(collection_id: int, resource_id: int) -> Response:
    workspace.remove_from_collection(current_principal(), collection_id, resource_id)
    db.session.commit()
    flash(_("Removed from the collection."), "ok")
    return redirect(
        url_for("workspace.collection", collection_id=collection_id), code=303
    )


@bp.post("/workspace/collections/<int:collection_id>/delete")
@login_required
def delete_collection(collection_id: int) -> Response:
    workspace.delete_collection(current_principal(), collection_id)
    db.session.commit()
    flash(_("The collection has been deleted."), "ok")
    return redirect(url_for("workspace.index"), code=303)


@bp.get("/c/<slug>")
def shared(slug: str) -> str:
    """A collection opened by its link: whoever is in its audience, signed in or not
    for a public one, sees the resources in it that they may see."""
    principal = current_principal()
    collection, items = workspace.open_collection(principal, slug)
    return render_template(
        "workspace/shared.html",
        collection=collection,
        shown=items,
        hidden=len(collection.items) - len(items),
        is_owner=collection.owner_id == principal.user_id,
    )
