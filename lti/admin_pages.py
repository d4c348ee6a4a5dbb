"""Administration pages for LTI: platform registrations and the tool's URLs.

An administrator lists the registrations of the organisations they administer, adds
one by hand, changes one (its platform URLs and deployment ids), and disables or
enables one. Pending registrations (left by Dynamic
Registration, held by no organisation yet) are shown only to administrators of a
top-level organisation (the city): anyone who can reach the registration URL can
leave one, so a school administrator must not be able to claim another school's
platform. They approve it by binding it to an organisation of their subtree, and
they alone bind a registration to another organisation later, for the same reason.
The rules are those of ``kejian lti`` (:mod:`lti.registrations`); this module
checks who asks, and commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, Regexp
from wtforms.validators import ValidationError as FieldError

from lti import registrations
from lti.errors import LtiProblem
from lti.models import DeploymentPolicy, Launch, Registration, RegistrationStatus
from repo_app.auth import current_principal
from repo_app.errors import NotFound
from repo_app.extensions import db
from repo_app.models import Organisation, Role
from repo_app.services import accounts
from repo_app.web import nav
from repo_app.web.access import role_required
from repo_app.web.forms import KejianForm, required

log = logging.getLogger("kejian.lti")

bp = Blueprint(
    "lti_admin", __name__, url_prefix="/admin/lti", template_folder="templates"
)

nav.add(
    "lti_admin.registrations_page",
    _l("LMS connections"),
    order=91,
    visible=nav.has_role(Role.ADMIN),
)

admin_required = role_required(Role.ADMIN)

STATUS_LABELS = {
    RegistrationStatus.PENDING: _l("Waiting for approval"),
    RegistrationStatus.ACTIVE: _l("Active"),
    RegistrationStatus.DISABLED: _l("Disabled"),
}

HTTP_URL = Regexp(
    r"^https?://[^\s/]+\S*$",
    message=_l("Give an address that starts with https:// (or http://)."),
)


def deployment_lines(form: KejianForm, field: TextAreaField) -> None:
    """One deployment id a line, each short enough to be stored."""
    for line in (field.data or "").splitlines():
        if len(line.strip()) > registrations.DEPLOYMENT_ID_MAX:
            raise FieldError(
                _l(
                    "A deployment id has at most %(max)d characters.",
                    max=registrations.DEPLOYMENT_ID_MAX,
                )
            )


class BindingForm(KejianForm):
    """Where a registration's users belong, and which deployments it may launch."""

    org = SelectField(
        _l("Organisation"),
        validators=[required()],
        description=_l("The platform's users see what this organisation may see."),
    )
    deployments = TextAreaField(
        _l("Deployment ids"),
        validators=[deployment_lines],
        description=_l("One a line, as the platform's tool settings show them."),
        render_kw={"rows": 3, "autocapitalize": "none", "spellcheck": "false"},
    )
    accept_new = BooleanField(
        _l("Also accept deployment ids not listed (course installs and copies)")
    )


class PlatformForm(BindingForm):
    """What may change of a registration: its name, the platform's URLs, the
    deployment ids and the organisation (issuer and client id name it)."""

    name = StringField(
        _l("Name"),
        validators=[Length(max=200)],
        description=_l("For people, such as 城东一中 Moodle."),
    )
    login_url = StringField(
        _l("Login (authorization) URL"),
        validators=[required(), Length(max=1000), HTTP_URL],
        render_kw={"autocapitalize": "none", "spellcheck": "false"},
    )
    token_url = StringField(
        _l("Access-token URL"),
        validators=[Optional(), Length(max=1000), HTTP_URL],
        render_kw={"autocapitalize": "none", "spellcheck": "false"},
    )
    key_set_url = StringField(
        _l("Key-set URL"),
        validators=[required(), Length(max=1000), HTTP_URL],
        render_kw={"autocapitalize": "none", "spellcheck": "false"},
    )


class RegistrationForm(PlatformForm):
    issuer = StringField(
        _l("Issuer"),
        validators=[required(), Length(max=255), HTTP_URL],
        description=_l(
            "The platform's iss, exactly, such as https://canvas.instructure.com."
        ),
        render_kw={"autocapitalize": "none", "spellcheck": "false"},
    )
    client_id = StringField(
        _l("Client id"),
        validators=[required(), Length(max=255)],
        render_kw={"autocapitalize": "none", "spellcheck": "false"},
    )


class ActionForm(KejianForm):
    """A button that changes a registration: only the CSRF token is sent.

    Its address also answers GET, with the list: the site sends a form whose token
    expired back to its address (:mod:`repo_app.web.access`).
    """


def _scope() -> list[Organisation]:
    return accounts.administered_orgs(current_principal())


def _shown(
    rows: Iterable[Registration], scope: list[Organisation]
) -> list[Registration]:
    """Rows bound to an organisation of *scope*, and, when *scope* holds a top-level
    organisation, those no organisation holds yet."""
    ids = {o.id for o in scope}
    sees_pending = _top_level(scope)
    return [
        r
        for r in rows
        if r.org_id in ids or (r.org_id is None and sees_pending)
    ]


def _top_level(scope: list[Organisation]) -> bool:
    """Whether *scope* holds a top-level organisation (the city)."""
    return any(o.parent_id is None for o in scope)


def _registration(registration_id: int) -> Registration:
    """:raises NotFound: also for a registration outside the administrator's scope."""
    row = db.session.get(Registration, registration_id)
    if row is None or not _shown([row], _scope()):
        raise NotFound(f"There is no LTI registration {registration_id} among yours.")
    return row


def _org_choices(form: BindingForm, scope: list[Organisation]) -> None:
    form.org.choices = [SelectChoice(o.code, f"{o.name} ({o.code})") for o in scope]


def _chosen_org(form: BindingForm, scope: list[Organisation]) -> Organisation:
    # The select accepts listed choices only, so this finds one.
    org = next(o for o in scope if o.code == form.org.data)
    accounts.require_org_admin(current_principal(), org)
    return org


def tool_urls() -> dict[str, str]:
    """What a platform's administrator pastes into the platform."""
    return {
        "register": url_for("lti.dynamic_registration", _external=True),
        "login": url_for("lti.login", _external=True),
        "launch": url_for("lti.launch", _external=True),
        "jwks": url_for("lti.jwks", _external=True),
    }


@bp.get("/")
@admin_required
def registrations_page() -> str:
    rows = db.session.scalars(select(Registration).order_by(Registration.id))
    shown = _shown(rows, _scope())
    shown.sort(key=lambda r: r.status is not RegistrationStatus.PENDING)
    launches = dict(
        db.session.execute(  # type: ignore[arg-type]
            select(Launch.registration_id, db.func.count(Launch.id))
            .where(Launch.registration_id.in_([r.id for r in shown]))
            .group_by(Launch.registration_id)
        ).all()
    )
    return render_template(
        "lti_admin/registrations.html",
        registrations=shown,
        launches=launches,
        statuses=STATUS_LABELS,
        urls=tool_urls(),
        action=ActionForm(),
    )


def _bind(form: BindingForm, row: Registration, scope: list[Organisation]) -> bool:
    """Approve *row* as *form* says and commit; or roll back, put the reason next to
    the deployment ids and return False."""
    try:
        registrations.approve(
            row,
            _chosen_org(form, scope),
            deployments=(form.deployments.data or "").splitlines(),
            accept_new_deployments=form.accept_new.data,
        )
    except LtiProblem:
        return _refused(form)
    db.session.commit()
    return True


def _refused(form: BindingForm, message: str | None = None) -> bool:
    """Roll back, say why next to the deployment ids, and return False."""
    db.session.rollback()
    form.fail(
        "deployments",
        message or _("Give a deployment id, or accept the ones launches bring."),
    )
    return False


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def register() -> Response | str:
    scope = _scope()
    form = RegistrationForm()
    _org_choices(form, scope)
    if not form.validate_on_submit():
        return render_template("lti_admin/register.html", form=form)

    issuer = (form.issuer.data or "").strip()
    client_id = (form.client_id.data or "").strip()
    taken = db.session.scalar(
        select(Registration.id).where(
            Registration.issuer == issuer, Registration.client_id == client_id
        )
    )
    if taken is not None:
        form.fail(
            "client_id",
            _("This issuer has a registration with this client id already."),
        )
        return render_template("lti_admin/register.html", form=form)

    row = Registration(
        issuer=issuer,
        client_id=client_id,
        name=(form.name.data or "").strip() or issuer,
        auth_login_url=(form.login_url.data or "").strip(),
        auth_token_url=(form.token_url.data or "").strip(),
        key_set_url=(form.key_set_url.data or "").strip(),
        source="manual",
    )
    db.session.add(row)
    if not _bind(form, row, scope):
        return render_template("lti_admin/register.html", form=form)
    flash(_("%(name)s has been registered.", name=row.name), "ok")
    return redirect(url_for("lti_admin.registrations_page"), code=303)


@bp.route("/<int:registration_id>/approve", methods=["GET", "POST"])
@admin_required
def approve(registration_id: int) -> Response | str:
    row = _registration(registration_id)
    if row.status is RegistrationStatus.ACTIVE:
        raise NotFound(f"LTI registration {registration_id} is active already.")
    scope = _scope()
    form = BindingForm()
    _org_choices(form, scope)
    if form.validate_on_submit() and _bind(form, row, scope):
        flash(_("%(name)s is active.", name=row.name), "ok")
        return redirect(url_for("lti_admin.registrations_page"), code=303)
    if not form.is_submitted() and row.org is not None:
        form.org.data = row.org.code
    return render_template("lti_admin/approve.html", form=form, registration=row)


@bp.route("/<int:registration_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(registration_id: int) -> Response | str:
    """Change a registration's URLs and deployment ids; administrators of the city
    may bind it to another organisation too."""
    row = _registration(registration_id)
    if row.org is None:
        raise NotFound(f"LTI registration {registration_id} waits for approval.")
    scope = _scope()
    form = PlatformForm(
        data={
            "name": row.name,
            "login_url": row.auth_login_url,
            "token_url": row.auth_token_url,
            "key_set_url": row.key_set_url or "",
            "deployments": "\n".join(d.deployment_id for d in row.deployments),
            "accept_new": row.unknown_deployments is DeploymentPolicy.ACCEPT,
            "org": row.org.code,
        }
    )
    if _top_level(scope):
        _org_choices(form, scope)
    else:
        # Only the city rebinds: what the platform's users see is not a school's to
        # widen (see the module's note on pending registrations).
        del form.org
    if form.validate_on_submit() and _change(form, row, scope):
        flash(_("%(name)s has been changed.", name=row.name), "ok")
        return redirect(url_for("lti_admin.registrations_page"), code=303)
    return render_template("lti_admin/edit.html", form=form, registration=row)


def _change(form: PlatformForm, row: Registration, scope: list[Organisation]) -> bool:
    """Apply *form* to *row* and commit; or roll back, say why next to the
    deployment ids and return False."""
    org = _chosen_org(form, scope) if "org" in form else row.org
    try:
        registrations.set_deployments(
            row,
            (form.deployments.data or "").splitlines(),
            accept_new=form.accept_new.data,
        )
    except registrations.DeploymentInUse as problem:
        return _refused(
            form,
            _(
                "Launches were recorded with %(ids)s, so it stays: disable the "
                "registration to refuse its launches.",
                ids=", ".join(problem.details["deployment_ids"]),
            ),
        )
    except LtiProblem:
        return _refused(form)
    row.name = (form.name.data or "").strip() or row.issuer
    row.auth_login_url = (form.login_url.data or "").strip()
    row.auth_token_url = (form.token_url.data or "").strip()
    row.key_set_url = (form.key_set_url.data or "").strip()
    row.org = org
    db.session.commit()
    log.info("LTI registration changed: %s org=%s", row.label, org.code if org else "")
    return True


@bp.route("/<int:registration_id>/disable", methods=["GET", "POST"])
@admin_required
def disable(registration_id: int) -> Response:
    row = _registration(registration_id)
    if row.org is None:
        raise NotFound(f"LTI registration {registration_id} waits for approval.")
    if ActionForm().validate_on_submit():
        registrations.disable(row)
        db.session.commit()
        flash(_("%(name)s is disabled: its launches are refused.", name=row.name), "ok")
    return redirect(url_for("lti_admin.registrations_page"), code=303)


@bp.route("/<int:registration_id>/enable", methods=["GET", "POST"])
@admin_required
def enable(registration_id: int) -> Response:
    row = _registration(registration_id)
    if row.org is None or row.status is not RegistrationStatus.DISABLED:
        raise NotFound(f"LTI registration {registration_id} is not disabled.")
    if ActionForm().validate_on_submit():
        accounts.require_org_admin(current_principal(), row.org)
        registrations.approve(row, row.org)
        db.session.commit()
        flash(_("%(name)s is active.", name=row.name), "ok")
    return redirect(url_for("lti_admin.registrations_page"), code=303)

