"""An LTI 1.3 platform for the tests, built on ``lti1p3platform`` and served over HTTP.

The platform side of every flow is the library's: its OIDC login initiation, its launch
messages signed with its key, its validation of the tool's deep-linking response
against the tool's published key set. The test only chooses, per launch, a
*scenario*: who launches, with which roles, what message, and which field-report
quirk (clock skew, missing claims, tampered claims, rotated keys).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, jsonify, redirect, request
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request as PlatformRequest
from lti1p3platform.request import TRequest
from werkzeug.serving import make_server

LIS = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTRUCTOR = [LIS + "Instructor"]
LEARNER = [LIS + "Learner"]
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"


def new_key() -> tuple[str, str]:
    """(private PEM, public PEM) of a fresh RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
    )
    return private, public


class LiveServer:
    """A WSGI app served on 127.0.0.1 in a thread."""

    def __init__(self, wsgi_app: Any) -> None:
        self._server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self._start(f"http://127.0.0.1:{self._server.server_port}")

    def _start(self, url: str) -> None:
        self.url = url
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@dataclass
class Scenario:
    """One launch as the platform will make it."""

    message_type: str = "LtiResourceLinkRequest"
    sub: str = "learner-1"
    name: str = "学生一"
    roles: list[str] = field(default_factory=lambda: list(LEARNER))
    context: dict[str, Any] | None = field(
        default_factory=lambda: {"id": "course-1", "title": "七年级数学"}
    )
    resource_link_id: str = "link-1"
    custom: dict[str, Any] | None = None
    accept_types: set[str] = field(default_factory=lambda: {"ltiResourceLink"})
    accept_multiple: bool = True
    #: The deep_linking_settings' accept_media_types, such as ``"image/*"``.
    accept_media_types: str | None = None
    dl_data: dict[str, Any] | None = field(
        default_factory=lambda: {"course": "course-1"}
    )
    #: Seconds the platform's clock is ahead of the tool's.
    clock_skew: int = 0
    lifetime: int = 300
    deployment_id: str | None = None
    client_id: str | None = None
    #: Changes to the signed claims (None removes one), after the library built them.
    claims: dict[str, Any] = field(default_factory=dict)
    #: Last word on the signed id_token, e.g. to sign with another key.
    sign: Callable[[dict[str, Any]], str] | None = None
    send_client_id_in_login: bool = True


def deep_linking(**changes: Any) -> Scenario:
    """An instructor opening the tool from the course editor."""
    base: dict[str, Any] = {
        "message_type": "LtiDeepLinkingRequest",
        "sub": "teacher-1",
        "roles": list(INSTRUCTOR),
    }
    return Scenario(**{**base, **changes})


class _FlaskRequest(PlatformRequest):
    def build_metadata(self, req: Any) -> TRequest:
        return {
            "method": req.method,
            "form_data": req.form.to_dict(),
            "get_data": req.args.to_dict(),
            "headers": dict(req.headers),
            "content_type": req.content_type,
            "path": req.path,
            "json": None,
        }


class Platform:
    """An LMS: issuer, one client for the tool, one deployment, its own key set."""

    def __init__(
        self,
        issuer_path: str = "",
        client_id: str = "kejian-client",
        deployment_id: str = "deploy-1",
    ) -> None:
        self.app = Flask(f"platform{id(self)}")
        self.server = LiveServer(self.app)
        self.issuer = self.server.url + issuer_path
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.private_key, self.public_key = new_key()
        self.published: list[dict[str, Any]] = [Registration.get_jwk(self.public_key)]
        self.jwks_down = False
        self.jwks_hits = 0
        self.tool_url = ""
        self.scenarios: dict[str, Scenario] = {}
        self.returned: list[dict[str, Any]] = []
        #: Dynamic Registration: the token the platform hands out, what it received.
        self.registration_token = "reg-token-0001"
        self.registrations: list[dict[str, Any]] = []
        #: False for platforms that deploy the tool after registering it (Canvas).
        self.deployment_in_registration = True
        self._ids = itertools.count(1)
        self._routes()

    # -- what the tool is told at registration --------------------------------------

    @property
    def login_url(self) -> str:
        return self.server.url + "/auth"

    @property
    def jwks_url(self) -> str:
        return self.server.url + "/jwks"

    @property
    def return_url(self) -> str:
        return self.server.url + "/deep-link-return"

    @property
    def kid(self) -> str:
        return str(Registration.get_jwk(self.public_key)["kid"])

    def rotate_key(self, publish: bool = True) -> None:
        """Sign with a new key from now on; publish it (or forget to)."""
        self.private_key, self.public_key = new_key()
        if publish:
            self.published.append(Registration.get_jwk(self.public_key))

    def conf(self, scenario: Scenario) -> LTI1P3PlatformConfAbstract:
        platform = self

        class Conf(LTI1P3PlatformConfAbstract):
            def init_platform_config(self, **kwargs: Any) -> None:
                self._registration = (
                    Registration()
                    .set_iss(platform.issuer)
                    .set_client_id(scenario.client_id or platform.client_id)
                    .set_deployment_id(scenario.deployment_id or platform.deployment_id)
                    .set_launch_url(platform.tool_url + "/lti/launch")
                    .set_deeplink_launch_url(platform.tool_url + "/lti/launch")
                    .set_oidc_login_url(platform.tool_url + "/lti/login")
                    .set_tool_key_set_url(platform.tool_url + "/lti/jwks")
                    .set_platform_public_key(platform.public_key)
                    .set_platform_private_key(platform.private_key)
                )

            def get_registration_by_params(self, **kwargs: Any) -> Registration:
                return self._registration  # type: ignore[return-value]

        return Conf()

    def start_url(self, scenario: Scenario) -> str:
        """Where a browser goes to launch: the platform's own "open the link" URL."""
        hint = f"hint-{next(self._ids)}"
        self.scenarios[hint] = scenario
        return f"{self.server.url}/start?hint={hint}"

    # -- the platform's endpoints -----------------------------------------------------

    def _routes(self) -> None:
        platform = self
        app = self.app

        @app.get("/start")
        def start() -> Response:
            hint = request.args["hint"]
            scenario = platform.scenarios[hint]

            class Login(OIDCLoginAbstract):
                def set_lti_message_hint(self, **kwargs: Any) -> None:
                    self._lti_message_hint = kwargs["hint"]

                def get_redirect(self, url: str) -> Any:
                    return url

            login = Login(_FlaskRequest(request), platform.conf(scenario))
            login.set_lti_message_hint(hint=hint)
            url = login.initiate_login(scenario.sub)
            if not scenario.send_client_id_in_login:
                parts = urlsplit(url)
                query = [(k, v) for k, v in parse_qsl(parts.query) if k != "client_id"]
                url = urlunsplit(parts._replace(query=urlencode(query)))
            return redirect(url, code=302)

        @app.get("/auth")
        def auth() -> Response | str:
            scenario = platform.scenarios.get(request.args.get("lti_message_hint", ""))
            if scenario is None or request.args.get("login_hint") != scenario.sub:
                return Response("unknown launch", status=400)
            launch = _Launch(_FlaskRequest(request), platform.conf(scenario))
            launch.scenario = scenario
            launch.platform = platform
            return launch.lti_launch()  # type: ignore[no-any-return]

        @app.get("/jwks")
        def jwks() -> Response:
            platform.jwks_hits += 1
            if platform.jwks_down:
                return Response("down for maintenance", status=503)
            return jsonify({"keys": platform.published})

        @app.get("/.well-known/openid-configuration")
        def openid_configuration() -> Response:
            base = platform.server.url
            return jsonify(
                {
                    "issuer": platform.issuer,
                    "authorization_endpoint": platform.login_url,
                    "token_endpoint": base + "/token",
                    "jwks_uri": platform.jwks_url,
                    "registration_endpoint": base + "/register",
                    "scopes_supported": ["openid"],
                    "response_types_supported": ["id_token"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                        "product_family_code": "test-lms",
                        "version": "1.0",
                        "messages_supported": [
                            {"type": "LtiResourceLinkRequest"},
                            {"type": "LtiDeepLinkingRequest"},
                        ],
                    },
                }
            )

        @app.post("/register")
        def register() -> Response:
            expected = f"Bearer {platform.registration_token}"
            if request.headers.get("Authorization") != expected:
                return Response('{"error": "invalid_token"}', status=401)
            tool = request.get_json()
            platform.registrations.append(tool)
            config = dict(
                tool["https://purl.imsglobal.org/spec/lti-tool-configuration"]
            )
            if platform.deployment_in_registration:
                config["deployment_id"] = platform.deployment_id
            return jsonify(
                {
                    **tool,
                    "client_id": platform.client_id,
                    "https://purl.imsglobal.org/spec/lti-tool-configuration": config,
                }
            )

        @app.post("/deep-link-return")
        def deep_link_return() -> Response:
            conf = platform.conf(Scenario())
            conf.get_registration()
            items = conf.validate_deeplinking_resp({"JWT": request.form["JWT"]})
            platform.returned.append({"jwt": request.form["JWT"], "items": items})
            return jsonify({"saved": len(items)})


class _Launch(LTIAdvantageMessageLaunchAbstract):
    scenario: Scenario
    platform: Platform

    def prepare_launch(self, preflight_response: dict[str, Any]) -> None:
        s = self.scenario
        self.set_user_data(s.sub, s.roles, full_name=s.name)
        if s.message_type == "LtiResourceLinkRequest":
            self.set_resource_link_claim(s.resource_link_id, title="链接")
        if s.context is not None:
            self.set_launch_context_claim(
                s.context["id"], context_title=s.context["title"]
            )
        if s.custom is not None:
            self.set_custom_parameters_claim(s.custom)
        if s.message_type == "LtiDeepLinkingRequest":
            self.set_dl(
                self.platform.return_url,
                title="添加资源",
                accept_types=s.accept_types,
                extra_data=s.dl_data,
            )

    def generate_launch_request(self) -> Any:
        data = super().generate_launch_request()
        body = jwt.decode(data["id_token"], options={"verify_signature": False})
        s = self.scenario
        if s.message_type == "LtiDeepLinkingRequest":
            settings = body[DL + "deep_linking_settings"]
            settings["accept_multiple"] = s.accept_multiple
            if s.accept_media_types is not None:
                settings["accept_media_types"] = s.accept_media_types
            if s.dl_data is None:
                settings.pop("data", None)
        now = int(time.time()) + s.clock_skew
        body["iat"], body["exp"] = now, now + s.lifetime
        for name, value in s.claims.items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        if s.sign is not None:
            data["id_token"] = s.sign(body)
        else:
            data["id_token"] = jwt.encode(
                body,
                self.platform.private_key,
                algorithm="RS256",
                headers={"kid": self.platform.kid},
            )
        return data

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> str:
        return (
            '<form id="launch" method="post" '
            f'action="{escape(launch_data["launch_url"])}">'
            '<input type="hidden" name="id_token" '
            f'value="{escape(launch_data["id_token"])}">'
            f'<input type="hidden" name="state" value="{escape(launch_data["state"])}">'
            "</form><script>document.forms[0].submit()</script>"
        )


@contextmanager
def running_platform(**kwargs: Any) -> Iterator[Platform]:
    platform = Platform(**kwargs)
    try:
        yield platform
    finally:
        platform.server.close()
