"""Open edX as an LTI 1.3 platform for the tests: lti-consumer-xblock served over HTTP.

The consumer classes of ``lti-consumer-xblock`` are what Open edX's LTI component
launches tools with: they build the OIDC login initiation, sign the launch and Deep
Linking messages with Open edX's claims and role mapping, and check a tool's Deep
Linking response against the tool's key set. That package is AGPL and brings Django,
so it lives in a virtual environment of its own (``scripts/openedx-venv.sh``) and
Kejian never imports it: ``tests/lti/test_lti_openedx.py`` starts this script with
that environment's Python and talks to it over HTTP only.

Routes, on 127.0.0.1 (the first line printed is ``READY <base URL>``):

``GET /start``
    Opens a link as a course member: ``message_type`` (``LtiResourceLinkRequest`` or
    ``LtiDeepLinkingRequest``), ``role`` (an Open edX role: ``instructor``,
    ``staff``, ``student``), ``user``, ``resource_link_id``, and for a placed item its
    ``url`` and ``custom`` (JSON). Answers the redirect to the tool's login.
``GET|POST /auth``
    The authorization endpoint: answers the tool's authentication request with a
    page that posts the signed ``id_token`` to the tool.
``POST /return``
    The Deep Linking return: the tool's response is checked and its items kept.
``GET /items``, ``GET /jwks``
    The items of the last response; the platform's public key set.
"""

from __future__ import annotations

import argparse
import json
import sys
from html import escape
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import django
from django.conf import settings

settings.configure(
    PLATFORM_NAME="Open edX (Kejian tests)",
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    INSTALLED_APPS=[],
    USE_TZ=True,
    OPENEDX_TELEMETRY=[],
)
django.setup()

from Cryptodome.PublicKey import RSA  # noqa: E402
from lti_consumer.data import Lti1p3LaunchData  # noqa: E402
from lti_consumer.lti_1p3.constants import LTI_1P3_CONTEXT_TYPE  # noqa: E402
from lti_consumer.lti_1p3.consumer import LtiAdvantageConsumer  # noqa: E402
from lti_consumer.utils import get_data_from_cache  # noqa: E402

COURSE = "course-v1:KejianCity+Math7+2026"


class Platform:
    def __init__(self, base: str, tool: str, client_id: str, deployment_id: str):
        self.base = base
        self.tool = tool.rstrip("/")
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.key = RSA.generate(2048).export_key().decode()
        #: lti_message_hint -> the placed item's url and custom parameters.
        self.placed: dict[str, dict[str, Any]] = {}
        #: The content items of the last Deep Linking response.
        self.items: list[dict[str, Any]] = []

    def consumer(self) -> LtiAdvantageConsumer:
        consumer = LtiAdvantageConsumer(
            iss=self.base,
            lti_oidc_url=self.tool + "/lti/login",
            lti_launch_url=self.tool + "/lti/launch",
            client_id=self.client_id,
            deployment_id=self.deployment_id,
            rsa_key=self.key,
            rsa_key_id="openedx-test-1",
            redirect_uris=[self.tool + "/lti/launch"],
            tool_keyset_url=self.tool + "/lti/jwks",
        )
        consumer.enable_deep_linking(self.tool + "/lti/launch", self.base + "/return")
        return consumer

    def start(self, args: dict[str, str]) -> tuple[str, list[tuple[str, str]], bytes]:
        launch = Lti1p3LaunchData(
            user_id=args.get("user", "learner-1"),
            user_role=args.get("role", "student"),
            config_id="kejian",
            resource_link_id=args.get("resource_link_id", "block-v1:kejian+1"),
            message_type=args.get("message_type", "LtiResourceLinkRequest"),
            context_id=COURSE,
            context_type=["course_offering"],
            context_title="七年级数学",
            context_label="Math7",
        )
        consumer = self.consumer()
        custom = json.loads(args.get("custom", "{}"))
        placed = {"url": args.get("url"), "custom": custom}
        if placed["url"]:
            consumer.set_dl_content_launch_parameters(url=placed["url"])
        login = consumer.prepare_preflight_url(launch)
        hint = parse_qs(urlsplit(login).query)["lti_message_hint"][0]
        self.placed[hint] = placed
        return "302 Found", [("Location", login)], b""

    def auth(self, params: dict[str, str]) -> tuple[str, list[tuple[str, str]], bytes]:
        hint = params.get("lti_message_hint", "")
        launch = get_data_from_cache(hint)
        if launch is None:
            return _text("400 Bad Request", "unknown lti_message_hint")
        consumer = self.consumer()
        placed = self.placed.get(hint, {})
        if placed.get("url"):
            consumer.set_dl_content_launch_parameters(
                url=placed["url"], custom=placed.get("custom") or None
            )
        consumer.set_user_data(
            user_id=launch.user_id,
            role=launch.user_role,
            full_name="开放学员" if launch.user_role == "student" else "开放教师",
        )
        consumer.set_resource_link_claim(launch.resource_link_id)
        consumer.set_context_claim(
            context_id=launch.context_id,
            context_types=[LTI_1P3_CONTEXT_TYPE[t] for t in launch.context_type or []],
            context_title=launch.context_title,
            context_label=launch.context_label,
        )
        try:
            signed = consumer.generate_launch_request(params)
        except Exception as exc:  # the tool's request was refused: say why
            return _text("400 Bad Request", f"{type(exc).__name__}: {exc}")
        fields = "".join(
            f'<input type="hidden" name="{name}" value="{escape(value)}">'
            for name, value in signed.items()
        )
        page = (
            f'<form method="post" action="{escape(params["redirect_uri"])}">'
            f"{fields}</form>"
        )
        return "200 OK", [("Content-Type", "text/html; charset=utf-8")], page.encode()

    def deep_linking_return(
        self, form: dict[str, str]
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        try:
            self.items = self.consumer().check_and_decode_deep_linking_token(
                form.get("JWT", "")
            )
        except Exception as exc:  # a response Open edX would refuse
            return _text("400 Bad Request", f"{type(exc).__name__}: {exc}")
        return _json({"saved": len(self.items)})

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        form: dict[str, str] = {}
        if method == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size).decode()
            form = {k: v[-1] for k, v in parse_qs(body).items()}
        if path == "/start":
            status, headers, body_out = self.start(query)
        elif path == "/auth":
            status, headers, body_out = self.auth(query | form)
        elif path == "/return" and method == "POST":
            status, headers, body_out = self.deep_linking_return(form)
        elif path == "/items":
            status, headers, body_out = _json(self.items)
        elif path == "/jwks":
            status, headers, body_out = _json(self.consumer().get_public_keyset())
        else:
            status, headers, body_out = _text("404 Not Found", "no such page")
        start_response(status, headers)
        return [body_out]


def _text(status: str, text: str) -> tuple[str, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "text/plain; charset=utf-8")], text.encode()


def _json(data: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    body = json.dumps(data, ensure_ascii=False).encode()
    return "200 OK", [("Content-Type", "application/json")], body


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        sys.stderr.write("openedx: " + format % args + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", required=True, help="Kejian's base URL")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--deployment-id", required=True)
    args = parser.parse_args()
    server = make_server(
        "127.0.0.1", 0, lambda e, s: [], server_class=_Server, handler_class=_Quiet
    )
    base = f"http://127.0.0.1:{server.server_port}"
    server.set_app(Platform(base, args.tool, args.client_id, args.deployment_id))
    print("READY", base, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
