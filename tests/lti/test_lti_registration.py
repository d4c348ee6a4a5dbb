"""Registering platforms: Dynamic Registration (the test plays the platform's side of
the 1EdTech spec) and the ``kejian lti`` commands."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from tests.lti.conftest import Browser, cli, error_of
from tests.lti.platform import Platform


def _register_url(kejian: str, platform: Platform, token: str | None = None) -> str:
    query = {
        "openid_configuration": platform.server.url
        + "/.well-known/openid-configuration",
        "registration_token": token or platform.registration_token,
    }
    return f"{kejian}/lti/register?{urlencode(query)}"


def test_dynamic_registration_failures_are_explained(
    app, kejian: str, platform: Platform, browser: Browser, world
) -> None:
    # A token the platform does not accept.
    page = browser.get(_register_url(kejian, platform, token="stale"))
    assert page.status_code == 400
    assert "refused the registration (HTTP 401)" in error_of(page)

    # A configuration URL that is not the issuer's own.
    query = urlencode({"openid_configuration": "http://127.0.0.1:9/nothing"})
    page = browser.get(f"{kejian}/lti/register?{query}")
    assert page.status_code == 400
    assert "cannot be read" in error_of(page)

    page = browser.get(f"{kejian}/lti/register")
    assert page.status_code == 400
    assert json.loads(cli(app, "lti", "list", "--json").output) == []


def test_cli_register_list_disable_approve_and_rotate(app, platform: Platform, world):
    args = [
        "lti",
        "register",
        "--issuer",
        platform.issuer,
        "--client-id",
        "c1",
        "--login-url",
        platform.login_url,
        "--key-set-url",
        platform.jwks_url,
        "--deployment",
        "d1",
        "--deployment",
        "d2",
        "--org",
        "s1",
        "--name",
        "城东一中 Moodle",
    ]
    result = cli(app, *args)
    assert result.exit_code == 0 and "Registered" in result.output
    # Running it again updates, and adds deployments.
    result = cli(app, *args[:-4], "--deployment", "d3", "--org", "s2")
    assert "Updated" in result.output
    (row,) = json.loads(cli(app, "lti", "list", "--json").output)
    assert row["deployments"] == ["d1", "d2", "d3"] and row["org"] == "s2"
    assert row["name"] == "城东一中 Moodle"

    assert "Disabled" in cli(app, "lti", "disable", "c1").output
    assert "disabled" in cli(app, "lti", "list").output
    assert cli(app, "lti", "approve", "c1", "--org", "nowhere").exit_code == 1
    assert cli(app, "lti", "approve", "999", "--org", "s1").exit_code == 1
    assert cli(app, "lti", "register", *args[2:8], "--org", "s1").exit_code == 1

    first = cli(app, "lti", "rotate-key").output
    second = cli(app, "lti", "rotate-key", "--retire-days", "2").output
    assert "New signing key" in first and "Retiring" in second
