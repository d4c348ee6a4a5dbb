"""Administration: organisations, users and their roles, vocabularies.

Every page needs the admin role somewhere; what it lists and what it changes is limited
to the organisations the principal administers (services in
:mod:`repo_app.services.accounts` check each action again).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, Regexp

from repo_app.auth import current_principal
from repo_app.errors import Conflict, KejianError
from repo_app.extensions import db
from repo_app.models import Locality, Organisation, OrgKind, Role
from repo_app.runtime import runtime
from repo_app.services import accounts
from repo_app.web import nav
from repo_app.web.access import role_required
from repo_app.web.forms import (
    KejianForm,
    PasswordChangeForm,
    commit_or_show,
    required,
)
from repo_app.web.i18n import vocab_lang

bp = Blueprint("admin", __name__, url_prefix="/admin")

nav.add("admin.index", _l("Administration"), order=90, visible=nav.has_role(Role.ADMIN))

admin_required = role_required(Role.ADMIN)

KIND_LABELS = {
    OrgKind.CITY: _l("City"),
    OrgKind.DISTRICT: _l("District or county"),
    OrgKind.SCHOOL: _l("School"),
    OrgKind.NETWORK: _l("Distance-education network"),
    OrgKind.COMMUNITY: _l("Community"),
}
LOCALITY_LABELS = {
    Locality.URBAN: _l("Urban (城区)"),
    Locality.TOWN: _l("Town (镇区)"),
    Locality.RURAL: _l("Rural (乡村)"),
}
ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.REVIEWER: _l("Reviewer"),
    Role.UPLOADER: _l("Uploader"),
    Role.TEACHER: _l("Teacher"),
}

CODE_RULE = Regexp(
    r"^[A-Za-z0-9._-]{1,64}$",
    message=_l("Use 1 to 64 letters, digits, dots, dashes or underscores."),
)


def _org_choices(
    orgs: list[Organisation], *, parents: bool = False
) -> list[SelectChoice]:
    shown = [o for o in orgs if not parents or o.kind is not OrgKind.SCHOOL]
    return [SelectChoice(o.code, f"{o.name} ({o.code})") for o in shown]


class OrgForm(KejianForm):
    name = StringField(_l("Name"), validators=[required(), Length(max=200)])
    code = StringField(
        _l("Code"),
        validators=[required(), CODE_RULE],
        description=_l("A short stable identifier, such as d1-s05."),
        render_kw={"autocapitalize": "none", "spellcheck": "false"},
    )
    kind = SelectField(
        _l("Kind"),
        choices=[SelectChoice(k.value, KIND_LABELS[k]) for k in accounts.ADDABLE_KINDS],
        default=OrgKind.SCHOOL.value,
    )
    parent = SelectField(_l("Belongs to"), validators=[required()])
    locality = SelectField(
        _l("Urban or rural"),
        choices=[
            SelectChoice("", _l("Not given")),
            *(SelectChoice(v.value, LOCALITY_LABELS[v]) for v in Locality),
        ],
        validators=[Optional()],
        description=_l("The 城区/镇区/乡村 mark used in the city's statistics."),
    )


class RoleForm(KejianForm):
    org = SelectField(_l("Organisation"), validators=[required()])
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice(r.value, ROLE_LABELS[r]) for r in Role],
        default=Role.TEACHER.value,
    )


class UserForm(RoleForm):
    username = StringField(
        _l("Username"),
        validators=[required(), CODE_RULE],
        render_kw={
            "autocapitalize": "none",
            "spellcheck": "false",
            "autocomplete": "off",
        },
    )
    display_name = StringField(_l("Full name"), validators=[Length(max=200)])
    password = PasswordChangeForm.new_password  # same rules as a password change


@bp.get("/")
@admin_required
def index() -> str:
    return render_template("admin/index.html")


@bp.get("/orgs")
@admin_required
def orgs() -> str:
    scope = accounts.administered_orgs(current_principal())
    return render_template(
        "admin/orgs.html",
        tree=_tree(scope),
        kinds=KIND_LABELS,
        localities=LOCALITY_LABELS,
    )


def _tree(orgs: list[Organisation]) -> list[dict[str, Any]]:
    """Nest *orgs* under their parents; those whose parent is outside are roots."""
    children: dict[int, list[dict[str, Any]]] = {o.id: [] for o in orgs}
    roots: list[dict[str, Any]] = []
    for org in orgs:
        node = {"org": org, "children": children[org.id]}
        siblings = children.get(org.parent_id) if org.parent_id else None
        (roots if siblings is None else siblings).append(node)
    return roots


@bp.route("/orgs/new", methods=["GET", "POST"])
@admin_required
def org_new() -> Response | str:
    principal = current_principal()
    form = OrgForm()
    form.parent.choices = _org_choices(
        accounts.administered_orgs(principal), parents=True
    )
    if request.method == "GET" and not form.restored and request.args.get("parent"):
        form.parent.data = request.args["parent"]
    if form.validate_on_submit():
        org = commit_or_show(
            form,
            lambda: accounts.add_org_by(
                principal,
                form.code.data or "",
                form.name.data or "",
                form.kind.data or "",
                form.parent.data or "",
                form.locality.data or None,
            ),
            {
                "code:conflict": _("This code is taken; choose another."),
                "code": _("Use 1 to 64 letters, digits, dots, dashes or underscores."),
                "kind": _("Only districts and schools can be added here."),
                "parent": _("A district belongs to the city; a school to a district."),
            },
        )
        if org is not None:
            flash(_("%(name)s has been added.", name=org.name), "ok")
            return redirect(url_for("admin.orgs"), code=303)
    return render_template("admin/org_new.html", form=form)


@bp.get("/users")
@admin_required
def users() -> str:
    principal = current_principal()
    people = accounts.users_of(accounts.administered_orgs(principal))
    return render_template("admin/users.html", users=people, roles=ROLE_LABELS)


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def user_new() -> Response | str:
    principal = current_principal()
    form = UserForm()
    form.org.choices = _org_choices(accounts.administered_orgs(principal))
    if form.validate_on_submit():
        user = commit_or_show(
            form,
            lambda: accounts.add_user_by(
                principal,
                form.username.data or "",
                form.password.data or "",
                form.org.data or "",
                form.role.data or "",
                display_name=form.display_name.data or "",
            ),
            {"username:conflict": _("This username is taken; choose another.")},
        )
        if user is not None:
            flash(_("%(name)s has been added.", name=user.username), "ok")
            return redirect(url_for("admin.user", user_id=user.id), code=303)
    return render_template("admin/user_new.html", form=form)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def user(user_id: int) -> Response | str:
    principal = current_principal()
    person = accounts.user_in_scope(principal, user_id)
    form = RoleForm()
    form.org.choices = _org_choices(accounts.administered_orgs(principal))
    if form.validate_on_submit():
        granted = commit_or_show(
            form,
            lambda: accounts.grant_role(
                principal, person, form.org.data or "", form.role.data or ""
            ),
            {"role": _("This person has this role there already.")},
        )
        if granted is not None:
            flash(_("The role has been granted."), "ok")
            return redirect(url_for("admin.user", user_id=user_id), code=303)
    return render_template(
        "admin/user.html",
        person=person,
        form=form,
        roles=ROLE_LABELS,
        principal_id=principal.user_id,
    )


@bp.post("/users/<int:user_id>/roles/<int:membership_id>/revoke")
@admin_required
def revoke(user_id: int, membership_id: int) -> Response:
    principal = current_principal()
    person = accounts.user_in_scope(principal, user_id)
    try:
        accounts.revoke_role(principal, person, membership_id)
        db.session.commit()
    except Conflict:
        db.session.rollback()
        flash(_("You cannot revoke your own admin role."), "error")
    else:
        flash(_("The role has been revoked."), "ok")
    # The person may now be outside the scope (their last role here is gone).
    try:
        accounts.user_in_scope(principal, user_id)
    except KejianError:
        return redirect(url_for("admin.users"), code=303)
    return redirect(url_for("admin.user", user_id=user_id), code=303)


@bp.get("/vocabularies")
@admin_required
def vocabularies() -> str:
    vocab = runtime().vocab
    return render_template("admin/vocabularies.html", vocab=vocab.as_json(vocab_lang()))
