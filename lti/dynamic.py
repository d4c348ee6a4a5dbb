"""LTI Dynamic Registration (1EdTech LTI-DR 1.0), the tool's side.

A platform administrator pastes Kejian's ``/lti/register`` URL into the platform
(Moodle 4.1+: *Site administration → Plugins → External tool → Manage tools*). The
platform opens it with ``openid_configuration`` and ``registration_token``; Kejian
reads the platform's configuration, posts its own tool configuration to the
platform's registration endpoint, and stores the answer as a *pending* registration
that a Kejian administrator approves and binds to an organisation
(``kejian lti approve``).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app, request, url_for
from pylti1p3.dynamic_registration import DynamicRegistration
from pylti1p3.exception import LtiException
from sqlalchemy import select

from lti.errors import LtiProblem
from lti.models import Deployment, Registration, RegistrationStatus
from lti.settings import parse_network
from repo_app.extensions import db

log = logging.getLogger("kejian.lti")

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
#: The platform's endpoints answer within this many seconds or registration fails.
TIMEOUT = 10


class _TimeoutSession(requests.Session):
    """A session whose requests time out (the library's have no timeout)."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", TIMEOUT)
        # A redirect would lead past the check of the host (check_platform_url).
        kwargs["allow_redirects"] = False
        return super().request(*args, **kwargs)


class ToolRegistrar(DynamicRegistration):
    """pylti1p3next's registration flow with Kejian's URLs and a database row."""

    client_name = "课件 Kejian"
    description = "全市共享课件资源库 · The city's shared courseware repository"

    def __init__(
        self, openid_configuration: str, registration_token: str | None
    ) -> None:
        self._configuration_url = openid_configuration
        self._token = registration_token
        self.registration: Registration | None = None

    def get_request_session(self) -> requests.Session:
        return _TimeoutSession()

    def get_initiate_login_uri(self) -> str:
        return url_for("lti.login", _external=True)

    def get_jwks_uri(self) -> str:
        return url_for("lti.jwks", _external=True)

    def get_redirect_uris(self) -> list[str]:
        return [url_for("lti.launch", _external=True)]

    def get_target_link_uri(self) -> str:
        return url_for("lti.launch", _external=True)

    def get_domain(self) -> str:
        # Moodle drops a leading "www." from target_link_uri's host and refuses the
        # registration unless what remains equals this domain.
        host = request.host
        return host[4:] if host.lower().startswith("www.") else host

    def get_claims(self) -> list[str]:
        # No e-mail: users are known by their sub per registration.
        return ["iss", "sub", "name"]

    def get_messages(self) -> list[dict[str, str]]:
        return [
            {
                "type": "LtiDeepLinkingRequest",
                "target_link_uri": self.get_target_link_uri(),
                "label": "课件 Kejian",
            }
        ]

    def get_logo_uri(self) -> str:
        return ""

    def lti_registration_data(self) -> dict[str, Any]:
        data = super().lti_registration_data()
        if not data.get("logo_uri"):
            data.pop("logo_uri", None)
        return data

    def get_openid_configuration_endpoint(self) -> str:
        return self._configuration_url

    def get_registration_token(self) -> str:
        return self._token  # type: ignore[return-value]

    def get_openid_configuration(self) -> dict[str, Any]:
        """The platform's configuration, checked before anything is sent to it.

        :raises LtiProblem: when it cannot be read or lacks what registration needs.
        """
        url = self._configuration_url
        check_platform_url(url)
        try:
            with self.get_request_session() as session:
                resp = session.get(url)
            config = resp.json() if resp.ok else None
        except (requests.RequestException, ValueError):
            config = None
        if not isinstance(config, dict):
            raise LtiProblem(
                f"The platform's OpenID configuration at {url} cannot be read.",
                hint="Start the registration again from the platform; Kejian must be "
                "able to reach the platform's address.",
            )
        missing = [
            k
            for k in (
                "issuer",
                "authorization_endpoint",
                "jwks_uri",
                "registration_endpoint",
                PLATFORM_CONFIGURATION,
            )
            if not config.get(k)
        ]
        if missing:
            raise LtiProblem(
                f"The platform's OpenID configuration lacks {', '.join(missing)}.",
                hint="The platform must support LTI Dynamic Registration 1.0.",
            )
        check_platform_url(str(config["registration_endpoint"]))
        issuer = str(config["issuer"])
        if not url.startswith(issuer):
            # LTI-DR 3.5.1: the configuration must come from the issuer's own site.
            raise LtiProblem(
                f"The OpenID configuration URL {url} is not under its issuer {issuer}.",
                hint="Start the registration from the platform itself.",
            )
        return config

    def complete_registration(
        self, openid_configuration: dict[str, Any], openid_registration: dict[str, Any]
    ) -> Registration:
        """Store the platform's answer as a pending registration (or update one)."""
        client_id = openid_registration.get("client_id")
        tool_config = openid_registration.get(TOOL_CONFIGURATION) or {}
        if not isinstance(client_id, str) or not client_id:
            raise LtiProblem(
                "The platform's registration answer has no client_id.",
                hint="Check the platform's Dynamic Registration support.",
            )
        issuer = str(openid_configuration["issuer"])
        platform = openid_configuration.get(PLATFORM_CONFIGURATION) or {}
        row = db.session.scalar(
            select(Registration).where(
                Registration.issuer == issuer, Registration.client_id == client_id
            )
        )
        if row is None:
            row = Registration(
                issuer=issuer, client_id=client_id, status=RegistrationStatus.PENDING
            )
            db.session.add(row)
        row.name = row.name or str(platform.get("product_family_code") or issuer)[:200]
        row.source = "dynamic"
        row.auth_login_url = str(openid_configuration["authorization_endpoint"])
        row.auth_token_url = str(openid_configuration.get("token_endpoint") or "")
        row.key_set_url = str(openid_configuration["jwks_uri"])
        row.platform_info = {
            "product_family_code": platform.get("product_family_code"),
            "version": platform.get("version"),
        }
        deployment_id = tool_config.get("deployment_id")
        if deployment_id and all(
            d.deployment_id != str(deployment_id) for d in row.deployments
        ):
            row.deployments.append(Deployment(deployment_id=str(deployment_id)))
        db.session.flush()
        self.registration = row
        return row


def check_platform_url(url: str) -> None:
    """Refuse a platform URL that Kejian must not fetch on a stranger's word.

    Anyone may open ``/lti/register`` with any ``openid_configuration``, so its
    host is checked before Kejian sends anything there. With
    ``KEJIAN_LTI_REGISTRATION_HOSTS`` set, only the hosts, addresses and networks it
    lists pass. Without it, a host passes when none of its addresses is one that no
    platform has: loopback (Kejian's own services), link-local (a cloud's metadata
    service), multicast, reserved or unspecified. Private networks pass: a school's
    Moodle is often on the city's intranet.

    :raises LtiProblem: naming the host and the setting that would let it in.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise LtiProblem(
            f"The platform address {url!r} is not an http(s) URL.",
            hint="Start the registration again from the platform.",
        )
    allowed = current_app.extensions["kejian.lti"].registration_hosts
    if host.lower() in {name.lower() for name in allowed}:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError):
        raise LtiProblem(
            f"The platform's host {host} cannot be found.",
            hint="Kejian must be able to resolve and reach the platform's address.",
        ) from None
    addresses = {_address(info[4][0]) for info in found}
    if allowed:
        networks = [net for net in map(parse_network, allowed) if net is not None]
        if not all(any(a in net for net in networks) for a in addresses):
            raise LtiProblem(
                f"The platform's host {host} is not one that "
                "KEJIAN_LTI_REGISTRATION_HOSTS lets register.",
                hint="Add it to KEJIAN_LTI_REGISTRATION_HOSTS on the Kejian server.",
            )
        return
    barred = sorted(str(a) for a in addresses if _never_a_platform(a))
    if barred:
        raise LtiProblem(
            f"Kejian does not contact {host} ({barred[0]}) on a registration "
            "request: no platform is at a loopback or link-local address.",
            hint="To register a platform there, list it in "
            "KEJIAN_LTI_REGISTRATION_HOSTS on the Kejian server.",
        )


_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> _Address:
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _never_a_platform(address: _Address) -> bool:
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def register_dynamically(openid_configuration: str, token: str | None) -> Registration:
    """Run Dynamic Registration; the caller commits.

    :raises LtiProblem: with what went wrong and what to check.
    """
    if not openid_configuration.startswith(("https://", "http://")):
        raise LtiProblem(
            "The registration request has no openid_configuration URL.",
            hint="Paste Kejian's /lti/register URL into the platform's "
            "tool registration, which adds the parameters itself.",
        )
    registrar = ToolRegistrar(openid_configuration, token)
    try:
        registrar.register()
    except LtiProblem:
        raise
    except requests.RequestException as exc:
        raise LtiProblem(
            f"The platform's registration endpoint cannot be reached "
            f"({exc.__class__.__name__}).",
            hint="Start the registration again; check the platform is reachable.",
        ) from None
    except (LtiException, AssertionError) as exc:
        # The library reports a refused request and a malformed answer this way.
        response = getattr(exc, "response", None)
        status = f"HTTP {response.status_code}" if response is not None else str(exc)
        reason = _platform_reason(response)
        raise LtiProblem(
            f"The platform refused the registration ({status}){reason}.",
            hint="The registration token may have expired: start again from the "
            "platform.",
        ) from None
    assert registrar.registration is not None
    log.info(
        "LTI registration made by Dynamic Registration: %s (pending)",
        registrar.registration.label,
    )
    return registrar.registration


def _platform_reason(response: requests.Response | None) -> str:
    """The platform's own words on a refusal, short and as plain text, or ''.

    Moodle answers a configuration it refuses with a one-line reason, such as
    ``domain_targetlinkuri_mismatch``, that tells an administrator what to fix.
    """
    if response is None:
        return ""
    text = " ".join(response.text.split())[:200]
    if not text or "<" in text:
        return ""
    return f": {text}"
