"""Registering platforms: Dynamic Registration (the test plays the platform's side of
the 1EdTech spec) and the ``kejian lti`` commands."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from tests.lti.conftest import (
    Browser,
    Pool,
    cli,
    deep_link,
    error_of,
    launch,
    register,
    resource_id_shown,
)
from tests.lti.platform import INSTRUCTOR, Platform, Scenario, deep_linking


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
    # An id past what the database holds is no registration either, not a crash.
    huge = cli(app, "lti", "disable", "99999999999999999999")
    assert huge.exit_code == 1 and "no registration" in huge.output
    assert cli(app, "lti", "register", *args[2:8], "--org", "s1").exit_code == 1

    first = cli(app, "lti", "rotate-key").output
    second = cli(app, "lti", "rotate-key", "--retire-days", "2").output
    assert "New signing key" in first and "Retiring" in second


def test_dynamic_registration_is_pending_until_an_admin_approves_it(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    # The platform's administrator pastes Kejian's URL; the platform opens it.
    page = browser.get(_register_url(kejian, platform))
    assert page.status_code == 200
    assert "org.imsglobal.lti.close" in page.text
    assert "kejian lti approve" in page.text

    # The platform received Kejian's tool configuration (LTI-DR 1.0).
    (tool,) = platform.registrations
    assert tool["initiate_login_uri"] == kejian + "/lti/login"
    assert tool["jwks_uri"] == kejian + "/lti/jwks"
    assert tool["redirect_uris"] == [kejian + "/lti/launch"]
    assert tool["token_endpoint_auth_method"] == "private_key_jwt"
    assert tool["response_types"] == ["id_token"]
    config = tool["https://purl.imsglobal.org/spec/lti-tool-configuration"]
    assert config["target_link_uri"] == kejian + "/lti/launch"
    assert config["domain"] == kejian.split("://")[1]
    assert [m["type"] for m in config["messages"]] == ["LtiDeepLinkingRequest"]
    assert "email" not in config["claims"]

    # Kejian holds it as pending, with what the platform told it.
    (row,) = json.loads(cli(app, "lti", "list", "--json").output)
    assert row["status"] == "pending" and row["org"] is None
    assert row["issuer"] == platform.issuer
    assert row["client_id"] == platform.client_id
    assert row["deployments"] == [platform.deployment_id]
    assert row["key_set_url"] == platform.jwks_url
    assert row["source"] == "dynamic"

    # Launches wait for the approval: the login initiation already answers the
    # refusal page inside the platform, before any id_token is sent.
    refused = Browser().get(platform.start_url(deep_linking()))
    assert refused.status_code == 403
    assert "/lti/login" in refused.url
    assert "waiting for a Kejian administrator" in error_of(refused)

    # A Kejian administrator approves it for school s1: the teacher deep-links.
    approved = cli(app, "lti", "approve", str(row["id"]), "--org", "s1")
    assert approved.exit_code == 0, approved.output
    saved = deep_link(browser, platform, [pool.s1_school])
    assert saved.json() == {"saved": 1}

    # A learner of the course launches the placed item and sees it.
    (item,) = platform.returned[-1]["items"]
    page = launch(Browser(), platform, Scenario(custom=item["custom"]))
    assert page.status_code == 200, page.text[:400]
    assert resource_id_shown(page) == pool.s1_school


def test_a_registration_without_deployment_id_is_approved_with_one(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    # Some platforms deploy the tool only after registering it (Canvas), so their
    # registration answer carries no deployment id.
    platform.deployment_in_registration = False
    page = browser.get(_register_url(kejian, platform))
    assert page.status_code == 200
    assert "--deployment" in page.text
    (row,) = json.loads(cli(app, "lti", "list", "--json").output)
    assert row["deployments"] == []

    # Approving it as it is would leave every launch refused: the command says so
    # and changes nothing.
    refused = cli(app, "lti", "approve", str(row["id"]), "--org", "s1")
    assert refused.exit_code == 1
    assert "--deployment" in refused.output
    (row,) = json.loads(cli(app, "lti", "list", "--json").output)
    assert row["status"] == "pending" and row["org"] is None

    # With the deployment id from the platform's settings, the teacher deep-links.
    approved = cli(
        app,
        "lti",
        "approve",
        str(row["id"]),
        "--org",
        "s1",
        "--deployment",
        platform.deployment_id,
    )
    assert approved.exit_code == 0, approved.output
    assert deep_link(browser, platform, [pool.city]).json() == {"saved": 1}


def test_pending_and_disabled_registrations_are_refused(
    app, platform: Platform, pool: Pool
) -> None:
    register(app, platform)
    assert cli(app, "lti", "disable", platform.client_id).exit_code == 0
    opens = Scenario(roles=list(INSTRUCTOR), custom={"resource_id": pool.city})
    browser = Browser()
    page = browser.get(platform.start_url(opens))
    assert page.status_code == 403
    assert "disabled" in error_of(page)
    assert cli(app, "lti", "approve", platform.client_id, "--org", "s1").exit_code == 0
    page = browser.submit(browser.get(platform.start_url(opens)))
    assert page.status_code == 200
