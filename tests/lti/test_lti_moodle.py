"""Dynamic Registration with a platform that checks the tool as Moodle 4.x does.

No Moodle runs here, so this platform reproduces, over HTTP, what Moodle's
``mod/lti`` does with a registration: its OpenID configuration (issued from a site
under a sub-path, endpoints as ``.php`` scripts, ``product_family_code`` "moodle"),
the checks Moodle makes of the tool's configuration before it creates the tool
(required attributes; ``id_token``; ``private_key_jwt``; a ``web`` application;
``redirect_uris`` a list; ``domain`` equal to the host of ``target_link_uri`` once a
leading ``www.`` is dropped from the latter), and the shape of its answer (the
deployment id is the new tool type's id, as a string). A tool that fails one of
these checks is refused by a real Moodle with a 400, which is what this platform
answers too.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask, Response, jsonify, request

from tests.lti.conftest import Browser, cli
from tests.lti.platform import LiveServer

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
#: Moodle's rule for the domain of a URL: the host and port, without ``www.``.
_MOODLE_DOMAIN = re.compile(r"(?:https?://)?(?:www\.)?([^/]+)(?:/|$)", re.IGNORECASE)
_REQUIRED = (
    "response_types",
    "initiate_login_uri",
    "redirect_uris",
    "client_name",
    "jwks_uri",
    "token_endpoint_auth_method",
    TOOL_CONFIGURATION,
)


def moodle_refusal(tool: dict[str, Any]) -> str | None:
    """What Moodle would refuse in *tool*'s configuration, or None."""
    for key in _REQUIRED:
        if not tool.get(key):
            return f"missing required attribute {key}"
    config = tool[TOOL_CONFIGURATION]
    domain = config.get("domain")
    if not domain:
        return "missing_domain"
    target = config.get("target_link_uri") or f"https://{domain}"
    match = _MOODLE_DOMAIN.search(target)
    if match is None or match.group(1) != domain:
        return "domain_targetlinkuri_mismatch"
    if "id_token" not in tool["response_types"]:
        return "invalid_response_types"
    if not isinstance(tool["redirect_uris"], list):
        return "invalid_redirect_uris"
    if tool["token_endpoint_auth_method"] != "private_key_jwt":
        return "invalid_token_endpoint_auth_method"
    if tool.get("application_type") not in (None, "", "web"):
        return "invalid_application_type"
    return None


class Moodle:
    """The registration side of a Moodle site at ``<server>/moodle``."""

    def __init__(self) -> None:
        self.token = secrets.token_urlsafe(16)
        self.client_id = secrets.token_urlsafe(10)
        self.type_id = 7
        self.received: list[dict[str, Any]] = []
        self.configuration_reads = 0
        app = Flask("moodle")
        app.add_url_rule(
            "/moodle/mod/lti/openid-configuration.php", view_func=self._configuration
        )
        app.add_url_rule(
            "/moodle/mod/lti/openid-registration.php",
            view_func=self._register,
            methods=["POST"],
        )
        self.server = LiveServer(app)
        self.wwwroot = self.server.url + "/moodle"

    @property
    def configuration_url(self) -> str:
        return self.wwwroot + "/mod/lti/openid-configuration.php"

    def _configuration(self) -> Response:
        self.configuration_reads += 1
        root = self.wwwroot
        return jsonify(
            {
                "issuer": root,
                "token_endpoint": root + "/mod/lti/token.php",
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
                "jwks_uri": root + "/mod/lti/certs.php",
                "authorization_endpoint": root + "/mod/lti/auth.php",
                "registration_endpoint": root + "/mod/lti/openid-registration.php",
                "scopes_supported": ["openid"],
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public", "pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": ["sub", "iss", "name", "given_name", "email"],
                "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                    "product_family_code": "moodle",
                    "version": "4.1.2 (Build: 20230313)",
                    "messages_supported": [
                        {"type": "LtiResourceLinkRequest"},
                        {"type": "LtiDeepLinkingRequest"},
                    ],
                    "variables": ["CourseSection.title", "ResourceLink.id"],
                },
            }
        )

    def _register(self) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return Response("Unauthorized", status=401)
        tool = request.get_json(silent=True)
        if not isinstance(tool, dict):
            return Response("Invalid payload", status=400)
        self.received.append(tool)
        refusal = moodle_refusal(tool)
        if refusal is not None:
            return Response(refusal, status=400)
        config = tool[TOOL_CONFIGURATION]
        return jsonify(
            {
                "client_id": self.client_id,
                "response_types": ["id_token"],
                "jwks_uri": tool["jwks_uri"],
                "initiate_login_uri": tool["initiate_login_uri"],
                "grant_types": ["client_credentials", "implicit"],
                "redirect_uris": tool["redirect_uris"],
                "application_type": "web",
                "token_endpoint_auth_method": "private_key_jwt",
                "client_name": tool["client_name"],
                "logo_uri": "",
                "scope": "",
                TOOL_CONFIGURATION: {
                    "version": "1.3.0",
                    "deployment_id": str(self.type_id),
                    "target_link_uri": config["target_link_uri"],
                    "domain": config["domain"],
                    "description": config.get("description", ""),
                    "messages": [
                        m for m in config.get("messages", [])
                        if m.get("type") == "LtiDeepLinkingRequest"
                    ],
                    "claims": ["sub", "iss", "name", "family_name", "given_name"],
                },
            }
        )

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def moodle() -> Iterator[Moodle]:
    site = Moodle()
    yield site
    site.close()


def _register(
    kejian: str, moodle: Moodle, token: str | None = None, **headers: str
) -> Any:
    query = urlencode(
        {
            "openid_configuration": moodle.configuration_url,
            "registration_token": token or moodle.token,
        }
    )
    return Browser().get(f"{kejian}/lti/register?{query}", headers=headers)


def test_moodle_accepts_kejians_configuration_and_kejian_keeps_it_pending(
    app: Any, kejian: str, moodle: Moodle
) -> None:
    page = _register(kejian, moodle)
    assert page.status_code == 200, page.text[:400]
    assert "org.imsglobal.lti.close" in page.text
    (tool,) = moodle.received
    assert moodle_refusal(tool) is None

    (row,) = json.loads(cli(app, "lti", "list", "--json").output)
    assert row["status"] == "pending"
    assert row["issuer"] == moodle.wwwroot
    assert row["client_id"] == moodle.client_id
    assert row["deployments"] == [str(moodle.type_id)]
    assert row["key_set_url"] == moodle.wwwroot + "/mod/lti/certs.php"


@pytest.mark.parametrize("host", ["www.kejian.test", "kejian.test"])
def test_moodle_accepts_kejian_served_with_or_without_www(
    app: Any, kejian: str, moodle: Moodle, host: str
) -> None:
    # Kejian's own URLs follow the host it is reached by; Moodle drops "www." from
    # the launch URL's host before comparing it with the domain Kejian sends.
    port = kejian.rsplit(":", 1)[1]
    page = _register(kejian, moodle, Host=f"{host}:{port}")
    (tool,) = moodle.received
    config = tool[TOOL_CONFIGURATION]
    assert config["target_link_uri"] == f"http://{host}:{port}/lti/launch"
    assert moodle_refusal(tool) is None
    assert page.status_code == 200, page.text[:400]


def test_a_refusal_by_moodle_is_explained_and_registers_nothing(
    app: Any, kejian: str, moodle: Moodle
) -> None:
    # The registration token Kejian passes on is not the one Moodle issued.
    page = _register(kejian, moodle, token="issued-to-someone-else")
    assert 400 <= page.status_code < 500
    # Moodle's reason reaches the administrator, and nothing else of the exchange.
    assert "refused the registration (HTTP 401): Unauthorized" in page.text
    assert "Traceback" not in page.text
    assert json.loads(cli(app, "lti", "list", "--json").output) == []


@pytest.mark.parametrize("lti_config", [{}])
@pytest.mark.parametrize(
    "address", ["loopback", "http://169.254.169.254/latest/meta-data/", "http://[::1]/"]
)
def test_a_registration_request_never_makes_kejian_fetch_internal_addresses(
    app: Any, kejian: str, moodle: Moodle, address: str
) -> None:
    # Anyone may open the registration URL: without KEJIAN_LTI_REGISTRATION_HOSTS,
    # Kejian refuses to contact loopback and link-local hosts on their word.
    target = moodle.configuration_url if address == "loopback" else address
    page = Browser().get(
        f"{kejian}/lti/register?"
        + urlencode({"openid_configuration": target, "registration_token": "t"})
    )
    assert page.status_code == 400
    assert "KEJIAN_LTI_REGISTRATION_HOSTS" in page.text
    assert moodle.configuration_reads == 0
    assert json.loads(cli(app, "lti", "list", "--json").output) == []


@pytest.mark.parametrize(
    "lti_config", [{"KEJIAN_LTI_REGISTRATION_HOSTS": "10.0.0.0/8 moodle.example"}]
)
def test_only_the_listed_hosts_register_when_a_list_is_set(
    app: Any, kejian: str, moodle: Moodle
) -> None:
    page = _register(kejian, moodle)
    assert page.status_code == 400
    assert "KEJIAN_LTI_REGISTRATION_HOSTS" in page.text
    assert moodle.configuration_reads == 0


def test_a_malformed_registration_host_list_stops_start_up() -> None:
    from config.settings import SettingsError
    from lti.settings import load_lti_settings

    with pytest.raises(SettingsError, match="KEJIAN_LTI_REGISTRATION_HOSTS"):
        load_lti_settings({"KEJIAN_LTI_REGISTRATION_HOSTS": "10.0.0.0/99"})
    hosts = load_lti_settings({"KEJIAN_LTI_REGISTRATION_HOSTS": "a.example 10.1.0.0/16"})
    assert hosts.registration_hosts == ("a.example", "10.1.0.0/16")
