"""Changes to platform registrations: approval, disabling, deployment ids.

Shared by ``kejian lti`` (:mod:`lti.cli`) and the admin pages
(:mod:`lti.admin_pages`), so that both apply the same rules. Nothing here checks who
asks or commits: the caller does both.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select

from lti.errors import LtiProblem
from lti.models import (
    Deployment,
    DeploymentPolicy,
    Launch,
    Placement,
    Registration,
    RegistrationStatus,
)
from repo_app.extensions import db
from repo_app.models import Organisation

log = logging.getLogger("kejian.lti")

#: Longest deployment id stored (the column's width).
DEPLOYMENT_ID_MAX = 255


class DeploymentNeeded(LtiProblem):
    """An approval would leave a registration whose every launch is refused."""

    status = 409
    code = "lti_deployment_needed"


class DeploymentInUse(LtiProblem):
    """Removing a deployment id would delete the launches and placements recorded
    with it (and break the links it placed)."""

    status = 409
    code = "lti_deployment_in_use"


def add_deployments(row: Registration, deployment_ids: Iterable[str]) -> list[str]:
    """Add the deployment ids *row* does not list yet (blank ones are skipped).

    :returns: every deployment id of *row*, in the order they were added.
    :raises LtiProblem: for a deployment id longer than :data:`DEPLOYMENT_ID_MAX`.
    """
    known = [d.deployment_id for d in row.deployments]
    for raw in deployment_ids:
        deployment_id = raw.strip()
        if not deployment_id or deployment_id in known:
            continue
        if len(deployment_id) > DEPLOYMENT_ID_MAX:
            raise LtiProblem(
                f"The deployment id {deployment_id[:40]!r}… is longer than "
                f"{DEPLOYMENT_ID_MAX} characters.",
                hint="Copy the deployment id from the platform's tool settings.",
                registration=row.label,
            )
        row.deployments.append(Deployment(deployment_id=deployment_id))
        known.append(deployment_id)
    return known


def approve(
    row: Registration,
    org: Organisation,
    *,
    deployments: Iterable[str] = (),
    accept_new_deployments: bool = False,
) -> None:
    """Activate *row* (pending or disabled) and bind it to *org*.

    Dynamic Registration leaves the deployment id out when the platform deploys the
    tool later (Canvas deploys per account or course): such a registration is
    approved only with a deployment id or with *accept_new_deployments*, because
    otherwise each of its launches would be refused as an unknown deployment.

    :param deployments: deployment ids to add.
    :param accept_new_deployments: let launches add deployment ids not listed.
    :raises DeploymentNeeded: when no launch could pass; *row* is left unchanged.
    :raises LtiProblem: for a deployment id that cannot be stored.
    """
    wanted = [d.strip() for d in deployments if d.strip()]
    if (
        not row.deployments
        and not wanted
        and not accept_new_deployments
        and row.unknown_deployments is not DeploymentPolicy.ACCEPT
    ):
        raise DeploymentNeeded(
            f"The platform did not tell Kejian a deployment id for {row.label}, so "
            "every launch would be refused.",
            hint="Copy the deployment id from the platform's tool settings and give "
            "it with the approval (--deployment ID), or accept the deployment ids "
            "launches bring (--accept-new-deployments).",
            registration=row.label,
        )
    add_deployments(row, wanted)
    if accept_new_deployments:
        row.unknown_deployments = DeploymentPolicy.ACCEPT
    row.org = org
    row.status = RegistrationStatus.ACTIVE
    log.info("LTI registration approved: %s org=%s", row.label, org.code)


def set_deployments(
    row: Registration, deployment_ids: Iterable[str], *, accept_new: bool
) -> None:
    """Make *row*'s deployment ids those of *deployment_ids* (blank lines and
    repeats skipped), and let launches add new ones when *accept_new*.

    A deployment id that launches or placements were recorded with stays: removing
    it would delete their records and break the links it placed in courses.

    :raises DeploymentInUse: for such ids; nothing is changed.
    :raises DeploymentNeeded: when no launch could pass; nothing is changed.
    :raises LtiProblem: for a deployment id that cannot be stored.
    """
    wanted = list(dict.fromkeys(d.strip() for d in deployment_ids if d.strip()))
    if not wanted and not accept_new:
        raise DeploymentNeeded(
            f"{row.label} would have no deployment id, so every launch would be "
            "refused.",
            hint="Keep the deployment id the platform's tool settings show, or "
            "accept the deployment ids launches bring.",
            registration=row.label,
        )
    gone = [d for d in row.deployments if d.deployment_id not in wanted]
    used = _recorded(gone)
    if used:
        raise DeploymentInUse(
            f"Launches of {row.label} were recorded with the deployment ids "
            f"{', '.join(used)}.",
            details={"deployment_ids": used},
            hint="Disable the registration to refuse its launches instead.",
            registration=row.label,
        )
    for deployment in gone:
        row.deployments.remove(deployment)
    add_deployments(row, wanted)
    row.unknown_deployments = (
        DeploymentPolicy.ACCEPT if accept_new else DeploymentPolicy.REJECT
    )
    log.info(
        "LTI registration deployments set: %s deployments=%s accept_new=%s",
        row.label,
        wanted,
        accept_new,
    )


def _recorded(deployments: list[Deployment]) -> list[str]:
    """The ids of *deployments* that a launch or a placement refers to."""
    pks = [d.id for d in deployments if d.id is not None]
    if not pks:
        return []
    used = set(
        db.session.scalars(
            select(Launch.deployment_pk).where(Launch.deployment_pk.in_(pks))
        )
    ) | set(
        db.session.scalars(
            select(Placement.deployment_pk).where(Placement.deployment_pk.in_(pks))
        )
    )
    return [d.deployment_id for d in deployments if d.id in used]


def disable(row: Registration) -> None:
    """Refuse every launch of *row* until it is approved again."""
    row.status = RegistrationStatus.DISABLED
    log.info("LTI registration disabled: %s", row.label)
