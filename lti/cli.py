"""``kejian lti``: register platforms by hand, list, approve, disable, rotate keys."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from lti import registrations
from lti.errors import LtiProblem
from lti.models import DeploymentPolicy, Launch, Registration, RegistrationStatus
from repo_app.errors import KejianError
from repo_app.extensions import db
from repo_app.models import Organisation, parse_id


def _fail(message: str) -> NoReturn:
    db.session.rollback()
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _registration(ref: str) -> Registration:
    """A registration by id, or by client id when that is unique."""
    number = parse_id(ref)
    row = db.session.get(Registration, number) if number is not None else None
    if row is None:
        rows = list(
            db.session.scalars(
                select(Registration).where(Registration.client_id == ref)
            )
        )
        row = rows[0] if len(rows) == 1 else None
    if row is None:
        _fail(f"There is no registration {ref!r}; see 'kejian lti list'.")
    return row


def _org(code: str) -> Organisation:
    from repo_app.services.accounts import org_by_code

    try:
        return org_by_code(code)
    except KejianError as exc:
        _fail(exc.message)


def _describe(row: Registration) -> dict[str, Any]:
    launches = db.session.scalar(
        select(db.func.count(Launch.id)).where(Launch.registration_id == row.id)
    )
    return {
        "id": row.id,
        "name": row.name,
        "status": row.status.value,
        "issuer": row.issuer,
        "client_id": row.client_id,
        "org": row.org.code if row.org else None,
        "deployments": [d.deployment_id for d in row.deployments],
        "unknown_deployments": row.unknown_deployments.value,
        "login_url": row.auth_login_url,
        "token_url": row.auth_token_url,
        "key_set_url": row.key_set_url,
        "source": row.source,
        "launches": launches or 0,
    }


@click.group("lti")
def lti_group() -> None:
    """LTI 1.3: the platforms (LMSes) that launch Kejian."""


@lti_group.command("register")
@click.option("--issuer", required=True, help="the platform's issuer (iss), exactly")
@click.option(
    "--client-id", required=True, help="the client id the platform gave Kejian"
)
@click.option(
    "--login-url", required=True, help="the platform's OIDC authorization URL"
)
@click.option("--token-url", default="", help="the platform's access-token URL")
@click.option("--key-set-url", default=None, help="the platform's JWKS URL (preferred)")
@click.option(
    "--key-set-file",
    type=click.File("r"),
    default=None,
    help="a JWKS file, when the platform has no key-set URL",
)
@click.option(
    "--deployment", "deployments", multiple=True, help="deployment id (repeatable)"
)
@click.option(
    "--org", "org_code", required=True, help="organisation whose view it gets"
)
@click.option("--name", default="", help="a name for people, such as 城东一中 Moodle")
@click.option(
    "--accept-new-deployments",
    is_flag=True,
    help="accept deployment ids not listed here (course installs and copies)",
)
@with_appcontext
def register(
    issuer: str,
    client_id: str,
    login_url: str,
    token_url: str,
    key_set_url: str | None,
    key_set_file: Any,
    deployments: tuple[str, ...],
    org_code: str,
    name: str,
    accept_new_deployments: bool,
) -> None:
    """Register a platform by hand (Canvas, Brightspace, Blackboard, ...).

    Running it again for the same issuer and client id updates the registration
    and adds deployments.
    """
    if not key_set_url and key_set_file is None:
        _fail("Give the platform's --key-set-url (or a --key-set-file).")
    for url in (login_url, key_set_url, token_url):
        if url and not url.startswith(("https://", "http://")):
            _fail(f"{url!r} is not an http(s) URL.")
    key_set = None
    if key_set_file is not None:
        try:
            key_set = json.load(key_set_file)
        except ValueError:
            _fail("The key-set file is not JSON.")
        if not isinstance(key_set, dict) or not isinstance(key_set.get("keys"), list):
            _fail('The key-set file must hold {"keys": [...]}.')
    org = _org(org_code)
    row = db.session.scalar(
        select(Registration).where(
            Registration.issuer == issuer, Registration.client_id == client_id
        )
    )
    created = row is None
    if row is None:
        row = Registration(issuer=issuer, client_id=client_id)
        db.session.add(row)
    row.name = name or row.name or issuer
    row.auth_login_url = login_url
    row.auth_token_url = token_url
    row.key_set_url = key_set_url
    row.key_set = key_set
    row.org = org
    row.status = RegistrationStatus.ACTIVE
    if accept_new_deployments:
        row.unknown_deployments = DeploymentPolicy.ACCEPT
    try:
        known = registrations.add_deployments(row, deployments)
    except LtiProblem as problem:
        _fail(f"{problem.message} {problem.hint}")
    db.session.commit()
    verb = "Registered" if created else "Updated"
    click.echo(
        f"{verb} {row.label} for {org.code}; deployments: "
        f"{', '.join(sorted(known)) or 'none yet'}."
    )


@lti_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def list_(as_json: bool) -> None:
    """List registrations, pending ones first."""
    rows = list(db.session.scalars(select(Registration).order_by(Registration.id)))
    rows.sort(key=lambda r: r.status is not RegistrationStatus.PENDING)
    data = [_describe(r) for r in rows]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if not data:
        click.echo("No platform is registered.")
    for d in data:
        click.echo(
            f"{d['id']:>4}  {d['status']:<8} {d['org'] or '-':<10} {d['issuer']}  "
            f"client {d['client_id']}  deployments {', '.join(d['deployments']) or '-'}"
            f"  launches {d['launches']}"
        )


@lti_group.command("approve")
@click.argument("registration")
@click.option(
    "--org", "org_code", required=True, help="organisation whose view it gets"
)
@click.option(
    "--deployment",
    "deployments",
    multiple=True,
    help="deployment id to add (repeatable); needed when the platform sent none",
)
@click.option(
    "--accept-new-deployments",
    is_flag=True,
    help="accept deployment ids not listed here (course installs and copies)",
)
@with_appcontext
def approve(
    registration: str,
    org_code: str,
    deployments: tuple[str, ...],
    accept_new_deployments: bool,
) -> None:
    """Activate a registration (pending or disabled) and bind it to an organisation."""
    row = _registration(registration)
    try:
        registrations.approve(
            row,
            _org(org_code),
            deployments=deployments,
            accept_new_deployments=accept_new_deployments,
        )
    except LtiProblem as problem:
        _fail(f"{problem.message} {problem.hint}")
    db.session.commit()
    click.echo(
        f"Approved {row.label} for {org_code}; deployments: "
        f"{', '.join(d.deployment_id for d in row.deployments) or 'any'}."
    )


@lti_group.command("disable")
@click.argument("registration")
@with_appcontext
def disable(registration: str) -> None:
    """Refuse every launch of a registration until it is approved again."""
    row = _registration(registration)
    registrations.disable(row)
    db.session.commit()
    click.echo(f"Disabled {row.label}.")


@lti_group.command("rotate-key")
@click.option(
    "--retire-days",
    type=click.IntRange(1, 90),
    default=None,
    help="days the old key stays published (default KEJIAN_LTI_KEY_RETIRE_DAYS)",
)
@with_appcontext
def rotate_key(retire_days: int | None) -> None:
    """Make a new signing key; the old one stays in /lti/jwks until it expires."""
    from lti.keys import rotate

    days = retire_days or current_app.extensions["kejian.lti"].key_retire_days
    new, retired = rotate(current_app.config["SECRET_KEY"], days)
    db.session.commit()
    for key in retired:
        click.echo(
            f"Retiring {key.kid}: published until {key.expires_at:%Y-%m-%d %H:%M} UTC."
        )
    click.echo(f"New signing key {new.kid}.")
