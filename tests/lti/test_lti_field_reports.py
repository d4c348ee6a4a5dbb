"""Every case of ``shared/cases/lti-field-reports.md``, driven over HTTP by the
``lti1p3platform`` platform (see :mod:`tests.lti.platform`)."""

from __future__ import annotations

import json
import logging
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from jwt import PyJWKSet

from lti.roles import CourseRole, course_role
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
from tests.lti.platform import (
    CLAIM,
    DL,
    INSTRUCTOR,
    LIS,
    Platform,
    Scenario,
    deep_linking,
    running_platform,
)
from tests.lti.tls import TlsProxy


def opens(pool: Pool, **changes: object) -> Scenario:
    """An instructor opening the city-wide resource (instructors need no placement)."""
    base: dict[str, object] = {
        "sub": "teacher-1",
        "roles": list(INSTRUCTOR),
        "custom": {"resource_id": str(pool.city)},
    }
    return Scenario(**{**base, **changes})  # type: ignore[arg-type]


# -- L1: clock skew -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("skew", "accepted"), [(-120, False), (-5, True), (5, True), (120, False)]
)
def test_l1_clock_skew_within_the_leeway_is_accepted(
    app, platform: Platform, browser: Browser, pool: Pool, skew: int, accepted: bool
) -> None:
    register(app, platform)
    # A 30-second token: 120 s behind it has expired beyond the 60 s leeway, and
    # 120 s ahead it is issued beyond it.
    page = launch(browser, platform, opens(pool, clock_skew=skew, lifetime=30))
    if accepted:
        assert page.status_code == 200
        assert resource_id_shown(page) == pool.city
    else:
        assert page.status_code == 403
        assert ("expired" if skew < 0 else "future") in error_of(page)
        assert "KEJIAN_LTI_LEEWAY_SECONDS" in page.text


@pytest.mark.parametrize(
    ("lti_config", "skew", "accepted"),
    [
        ({"KEJIAN_LTI_LEEWAY_SECONDS": "180"}, 120, True),
        ({"KEJIAN_LTI_LEEWAY_SECONDS": "180"}, -120, True),
        ({"KEJIAN_LTI_LEEWAY_SECONDS": "0"}, 30, False),
    ],
)
def test_l1_the_leeway_is_a_setting(
    app, platform: Platform, pool: Pool, skew: int, accepted: bool
) -> None:
    register(app, platform)
    page = launch(Browser(), platform, opens(pool, clock_skew=skew, lifetime=30))
    assert page.status_code == (200 if accepted else 403)


def test_l1_a_leeway_that_cannot_be_used_stops_the_start() -> None:
    from config.settings import SettingsError
    from lti.settings import load_lti_settings

    with pytest.raises(SettingsError, match="KEJIAN_LTI_LEEWAY_SECONDS"):
        load_lti_settings({"KEJIAN_LTI_LEEWAY_SECONDS": "a minute"})
    with pytest.raises(SettingsError, match="between 0 and 600"):
        load_lti_settings({"KEJIAN_LTI_LEEWAY_SECONDS": "3600"})


# -- L2: behind a TLS proxy, inside an iframe ---------------------------------------


@pytest.mark.parametrize("lti_config", [{"KEJIAN_LTI_TRUSTED_PROXIES": "1"}])
def test_l2_behind_a_tls_proxy_cookies_are_secure_and_a_lost_cookie_gets_a_page(
    app, kejian: str, pool: Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = TlsProxy(kejian, tmp_path)
    # The platform checks the tool's key set over HTTPS, trusting the test's CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(proxy.ca_file))
    try:
        with running_platform() as platform:
            platform.tool_url = proxy.url
            register(app, platform)
            browser = Browser()
            browser.session.verify = str(proxy.ca_file)

            # The login, seen through the proxy, sets the one cookie for iframes.
            page = browser.get(platform.start_url(opens(pool)))
            login = page.history[1]
            assert login.url.startswith(proxy.url + "/lti/login")
            cookie = login.headers["Set-Cookie"]
            for attribute in ("Secure", "SameSite=None", "Partitioned", "HttpOnly"):
                assert attribute in cookie
            assert "Path=/lti" in cookie
            shown = browser.submit(page)
            assert shown.status_code == 200
            assert shown.url.startswith("https://")
            assert resource_id_shown(shown) == pool.city

            # Safari drops the cookie: the launch explains and offers a new window.
            page = browser.get(platform.start_url(opens(pool)))
            browser.session.cookies.clear()
            lost = browser.submit(page)
            assert lost.status_code == 400
            assert "在新窗口中继续" in lost.text
            link = unescape(lost.text.split('id="continue" href="')[1].split('"')[0])
            assert link.startswith(proxy.url + "/lti/login?")
            assert "lti1p3_new_window=1" in link

            # In the new (top-level) window the cookie is kept: the launch goes on
            # through the platform and shows the resource.
            window = Browser()
            window.session.verify = str(proxy.ca_file)
            form = window.get(link)
            assert form.status_code == 200
            shown = window.submit(form)
            assert shown.status_code == 200
            assert resource_id_shown(shown) == pool.city
    finally:
        proxy.close()


# -- L3: state lives server-side, not in the Flask session --------------------------


def test_l3_launches_work_without_the_flask_session_cookie(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform)
    for _ in range(2):  # a second launch in the same browser works too
        page = browser.get(platform.start_url(opens(pool)))
        browser.session.cookies.set("session", "dropped-or-stale")
        shown = browser.submit(page)
        assert shown.status_code == 200
        # Nothing of the launch was put in the Flask session.
        assert all(
            "session=" not in r.headers.get("Set-Cookie", "")
            for r in [*shown.history, shown]
        )
    # Reloading the page does not post the id_token again.
    assert browser.get(shown.url).status_code == 200


# -- L4: one issuer, several clients ------------------------------------------------


def test_l4_registrations_are_resolved_by_issuer_and_client_id(
    app, platform: Platform, browser: Browser, pool: Pool, caplog
) -> None:
    register(app, platform, "s1")
    other = cli(
        app,
        "lti",
        "register",
        "--issuer",
        platform.issuer,
        "--client-id",
        "second-client",
        "--login-url",
        platform.login_url,
        "--key-set-url",
        platform.jwks_url,
        "--deployment",
        platform.deployment_id,
        "--org",
        "s2",
    )
    assert other.exit_code == 0, other.output

    # Each client id reaches its own registration, and with it its own view.
    as_s2 = launch(
        Browser(),
        platform,
        opens(pool, client_id="second-client", custom={"resource_id": pool.s2_school}),
    )
    assert resource_id_shown(as_s2) == pool.s2_school
    as_s1 = launch(
        Browser(), platform, opens(pool, custom={"resource_id": pool.s2_school})
    )
    assert as_s1.status_code == 404

    # A login without client_id cannot be told apart: 400 that says so.
    caplog.set_level(logging.WARNING, logger="kejian.lti")
    page = browser.get(platform.start_url(opens(pool, send_client_id_in_login=False)))
    assert page.status_code == 400
    assert "Several registrations share issuer" in error_of(page)
    assert "client_id" in page.text
    assert "lti_ambiguous_registration" in caplog.text


# -- L5: many deployments per client -----------------------------------------------


def test_l5_unknown_deployments_follow_the_registrations_policy(
    app, platform: Platform, pool: Pool
) -> None:
    register(app, platform)
    refused = launch(Browser(), platform, opens(pool, deployment_id="course-copy-7"))
    assert refused.status_code == 403
    assert "'course-copy-7' is not registered" in error_of(refused)

    # The administrator lets this registration accept course installs and copies.
    register(app, platform, "s1", "--accept-new-deployments")
    for deployment in ("course-copy-7", "course-copy-7", platform.deployment_id):
        page = launch(Browser(), platform, opens(pool, deployment_id=deployment))
        assert page.status_code == 200

    from lti.models import Deployment, Launch
    from repo_app.extensions import db

    db.session.rollback()
    usage = dict(
        db.session.execute(
            db.select(Deployment.deployment_id, db.func.count(Launch.id))
            .join(Launch, Launch.deployment_pk == Deployment.id)
            .group_by(Deployment.deployment_id)
        ).all()
    )
    assert usage == {"course-copy-7": 2, platform.deployment_id: 1}
    listed = json.loads(cli(app, "lti", "list", "--json").output)
    assert listed[0]["deployments"] == [platform.deployment_id, "course-copy-7"]


# -- L6, L7: platform keys -----------------------------------------------------------


def test_l6_a_rotated_platform_key_is_fetched_once_and_unknown_kids_named(
    app, platform: Platform, pool: Pool, caplog
) -> None:
    register(app, platform)
    assert launch(Browser(), platform, opens(pool)).status_code == 200
    assert platform.jwks_hits == 1  # cached from now on

    # The platform rotates its key: the tool refetches once and accepts.
    platform.rotate_key()
    assert launch(Browser(), platform, opens(pool)).status_code == 200
    assert platform.jwks_hits == 2

    # A kid the platform never published: one more fetch is not allowed yet
    # (rate-limited), and the 403 names the kid.
    platform.rotate_key(publish=False)
    caplog.set_level(logging.WARNING, logger="kejian.lti")
    page = launch(Browser(), platform, opens(pool))
    assert page.status_code == 403
    assert platform.kid in error_of(page)
    assert platform.jwks_hits == 2
    assert f"received={platform.kid}" in caplog.text


@pytest.mark.parametrize(
    "lti_config", [{"KEJIAN_LTI_KEYSET_REFETCH_SECONDS": "0"}]
)
def test_l6_the_refetch_interval_is_a_setting(
    app, platform: Platform, pool: Pool
) -> None:
    register(app, platform)
    assert launch(Browser(), platform, opens(pool)).status_code == 200

    # Without a least interval, each unknown kid fetches the key set again...
    platform.rotate_key(publish=False)
    for hits in (2, 3):
        page = launch(Browser(), platform, opens(pool))
        assert page.status_code == 403
        assert platform.kid in error_of(page)
        assert platform.jwks_hits == hits

    # ...so the key is found as soon as the platform publishes it.
    platform.rotate_key()
    assert launch(Browser(), platform, opens(pool)).status_code == 200
    assert platform.jwks_hits == 4


def test_l7_a_pasted_key_set_goes_stale_and_the_url_is_preferred(
    app, platform: Platform, pool: Pool, tmp_path: Path, caplog
) -> None:
    pasted = tmp_path / "jwks.json"
    pasted.write_text(json.dumps({"keys": platform.published}))
    result = cli(
        app,
        "lti",
        "register",
        "--issuer",
        platform.issuer,
        "--client-id",
        platform.client_id,
        "--login-url",
        platform.login_url,
        "--key-set-file",
        str(pasted),
        "--deployment",
        platform.deployment_id,
        "--org",
        "s1",
    )
    assert result.exit_code == 0, result.output
    assert launch(Browser(), platform, opens(pool)).status_code == 200

    old_kid = platform.kid
    platform.rotate_key()
    caplog.set_level(logging.WARNING, logger="kejian.lti")
    page = launch(Browser(), platform, opens(pool))
    assert page.status_code == 403
    message = error_of(page)
    assert platform.kid in message and old_kid in message
    assert "key-set URL" in page.text
    assert f"available=['{old_kid}']" in caplog.text

    # With the key-set URL given as well, the URL wins and the launch works.
    register(app, platform, "s1")
    assert launch(Browser(), platform, opens(pool)).status_code == 200


# -- L8: the tool's key set -----------------------------------------------------------


def test_l8_jwks_is_one_key_set_and_every_signature_names_a_key_in_it(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform)
    key_set = requests.get(kejian + "/lti/jwks", timeout=10).json()
    assert list(key_set) == ["keys"] and len(key_set["keys"]) == 1
    assert set(key_set["keys"][0]) == {"kty", "n", "e", "kid", "alg", "use"}
    assert key_set["keys"][0]["alg"] == "RS256" and key_set["keys"][0]["use"] == "sig"

    # After a rotation both keys are published and the new one signs.
    assert cli(app, "lti", "rotate-key").exit_code == 0
    key_set = requests.get(kejian + "/lti/jwks", timeout=10).json()
    assert len(key_set["keys"]) == 2
    deep_link(browser, platform, [pool.city])
    kid = jwt.get_unverified_header(platform.returned[-1]["jwt"])["kid"]
    assert kid == key_set["keys"][0]["kid"]
    PyJWKSet.from_dict(key_set)[kid]  # raises when absent


# -- L9, L11: deep-linking items and response ---------------------------------------


def test_l9_item_url_is_the_registered_launch_url_and_the_id_travels_in_custom(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform)
    deep_link(browser, platform, [pool.s1_school])
    (item,) = platform.returned[-1]["items"]
    assert item["url"] == kejian + "/lti/launch"
    assert not urlsplit(item["url"]).query
    assert item["custom"] == {"resource_id": str(pool.s1_school)}
    page = launch(Browser(), platform, Scenario(custom=item["custom"]))
    assert resource_id_shown(page) == pool.s1_school


def test_l11_items_respect_accept_multiple_and_are_fully_addressed(
    app, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform)
    single = deep_linking(
        accept_multiple=False, accept_types={"ltiResourceLink", "link", "file"}
    )
    picker = launch(browser, platform, single)
    assert 'type="radio"' in picker.text
    two = browser.submit(
        picker,
        form_id="choose",
        extra=[("resource", str(pool.city)), ("resource", str(pool.public))],
    )
    assert two.status_code == 400
    assert "one item only" in error_of(two)
    assert platform.returned == []

    one = browser.submit(
        picker, form_id="choose", extra=[("resource", str(pool.public))]
    )
    browser.submit(one)
    token = platform.returned[-1]["jwt"]
    claims = jwt.decode(token, options={"verify_signature": False})
    (item,) = claims[DL + "content_items"]
    assert item["type"] == "ltiResourceLink" and item["url"] and item["title"]
    assert claims["iss"] == platform.client_id
    assert claims["aud"] == [platform.issuer]
    assert claims[CLAIM + "deployment_id"] == platform.deployment_id
    assert claims["exp"] > claims["iat"] and claims["nonce"]
    assert jwt.get_unverified_header(token)["kid"]


# -- L12: roles ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        (["Instructor"], CourseRole.INSTRUCTOR),
        ([LIS + "Instructor"], CourseRole.INSTRUCTOR),
        (
            [
                "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
            ],
            CourseRole.INSTRUCTOR,
        ),
        ([LIS + "ContentDeveloper"], CourseRole.INSTRUCTOR),
        (
            [
                LIS + "Learner",
                "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
                "Administrator",
            ],
            CourseRole.LEARNER,
        ),
        (
            ["http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"],
            CourseRole.LEARNER,
        ),
        (
            ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Faculty"],
            CourseRole.LEARNER,
        ),
        (["urn:made-up"], CourseRole.LEARNER),
        ([], CourseRole.LEARNER),
    ],
)
def test_l12_context_roles_decide_with_least_privilege(
    roles: list[str], expected: CourseRole
) -> None:
    assert course_role(roles) is expected


@pytest.mark.parametrize(
    ("roles", "may_deep_link"),
    [
        (["Instructor"], True),
        (
            [
                "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
            ],
            True,
        ),
        (
            [
                LIS + "Learner",
                "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
                "Administrator",
            ],
            False,
        ),
        (["http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"], False),
    ],
)
def test_l12_only_course_instructors_reach_the_picker(
    app,
    platform: Platform,
    browser: Browser,
    pool: Pool,
    roles: list[str],
    may_deep_link: bool,
) -> None:
    register(app, platform)
    page = launch(browser, platform, deep_linking(roles=roles))
    if may_deep_link:
        assert page.status_code == 200 and "/lti/picker/" in page.url
    else:
        assert page.status_code == 403
        assert "Only instructors" in error_of(page)


# -- L13: routing on message_type ----------------------------------------------------


def test_l13_deep_linking_without_context_is_routed_by_message_type(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform)
    # Open edX: the deep-linking request goes to the resource-launch URL (Kejian has
    # one launch URL for every message) and carries no context claim.
    deep_link(browser, platform, [pool.city], deep_linking(context=None))
    assert browser.last is not None and browser.last.json() == {"saved": 1}

    from lti.models import Placement
    from repo_app.extensions import db

    db.session.rollback()
    placement = db.session.scalars(db.select(Placement)).one()
    assert placement.context_id is None and placement.resource_id == pool.city


# -- L16: one id_token, once ---------------------------------------------------------


def test_l16_the_same_id_token_posted_twice_is_refused(
    app, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform)
    form = browser.get(platform.start_url(opens(pool)))
    assert browser.submit(form).status_code == 200
    again = browser.submit(form)
    assert again.status_code == 403
    assert "used already" in error_of(again)


# -- L17: custom claim missing, ids as strings or numbers ----------------------------


@pytest.mark.parametrize("as_number", [True, False])
def test_l17_resource_ids_arrive_as_numbers_or_strings(
    app, platform: Platform, pool: Pool, as_number: bool
) -> None:
    register(app, platform)
    rid: object = pool.city if as_number else f" {pool.city} "
    page = launch(Browser(), platform, opens(pool, custom={"resource_id": rid}))
    assert resource_id_shown(page) == pool.city


def test_l17_a_launch_without_custom_falls_back_gracefully(
    app, platform: Platform, pool: Pool
) -> None:
    register(app, platform)
    # No placement and no custom claim: a page that says what to do.
    page = launch(Browser(), platform, opens(pool, custom=None))
    assert page.status_code == 404
    assert "custom" in error_of(page) and "Deep Linking" in page.text

    # Once the link was launched with its resource, the custom claim may go missing.
    assert (
        launch(Browser(), platform, opens(pool, resource_link_id="l17")).status_code
        == 200
    )
    page = launch(Browser(), platform, opens(pool, resource_link_id="l17", custom=None))
    assert resource_id_shown(page) == pool.city

    garbage = launch(
        Browser(),
        platform,
        opens(pool, resource_link_id="x", custom={"resource_id": "abc"}),
    )
    assert garbage.status_code == 400
    assert "is not a resource id" in error_of(garbage)


# -- L18: the authorization request is a top-level GET ------------------------------


def test_l18_login_answers_with_a_plain_302_get_to_the_platform(
    app, kejian: str, platform: Platform, pool: Pool
) -> None:
    register(app, platform)
    params = {
        "iss": platform.issuer,
        "login_hint": "learner-1",
        "target_link_uri": kejian + "/lti/launch",
        "client_id": platform.client_id,
        "lti_message_hint": "hint-x",
    }
    for method in ("GET", "POST"):
        kw = {"params": params} if method == "GET" else {"data": params}
        resp = requests.request(
            method, kejian + "/lti/login", allow_redirects=False, timeout=10, **kw
        )  # type: ignore[arg-type]
        assert resp.status_code == 302
        location = resp.headers["Location"]
        assert location.startswith(platform.login_url + "?")
        query = parse_qs(urlsplit(location).query)
        assert query["redirect_uri"] == [kejian + "/lti/launch"]
        assert query["response_mode"] == ["form_post"]
        assert query["prompt"] == ["none"]
        assert query["lti_message_hint"] == ["hint-x"]
