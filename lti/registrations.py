"""Changes to platform registrations: approval, disabling, deployment ids.

Shared by ``kejian lti`` (:mod:`lti.cli`) and the admin pages
(:mod:`lti.admin_pages`), so that both apply the same rules. Nothing here checks who
asks or commits: the caller does both.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from lti.errors import LtiProblem
from lti.models import Deployment, DeploymentPolicy, Registration, RegistrationStatus
from repo_app.models import Organisation

log = logging.getLogger("kejian.lti")

#: Longest deployment id stored (the column's width).
DEPLOYMENT_ID_MAX = 255


class DeploymentNeeded(LtiProblem):
    """An approval would leave a registration whose every launch is refused."""

    status = 409
    code = "lti_deployment_needed"


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


def disable(row: Registration) -> None:
    """Refuse every launch of *row* until it is approved again."""
    row.status = RegistrationStatus.DISABLED
    log.info("LTI registration disabled: %s", row.label)
