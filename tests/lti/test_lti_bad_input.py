"""Bad input gets a 4xx that says what is wrong and what the administrator should
check, is logged with the registration and the reason, and changes nothing.

As every test here checks that nothing changed, they share one Kejian, city, pool
and platform per database (:func:`tests.lti.conftest.shared_kejian`)."""

from __future__ import annotations

import logging
import re
from typing import Any

import jwt
import lxml.html
import pytest
import requests

from tests.lti.conftest import Browser, Pool, error_of, register, use_shared_kejian
from tests.lti.platform import CLAIM, INSTRUCTOR, Platform, Scenario, new_key

app, kejian, platform, world, pool = use_shared_kejian()


def _counts() -> tuple[int, int, int]:
    from lti.models import Launch, Placement, PlatformUser
    from repo_app.extensions import db

    db.session.rollback()
    return tuple(  # type: ignore[return-value]
        db.session.scalar(db.select(db.func.count()).select_from(m))
        for m in (Launch, Placement, PlatformUser)
    )


def _scenario(pool: Pool, **changes: Any) -> Scenario:
    base: dict[str, Any] = {
        "roles": list(INSTRUCTOR),
        "custom": {"resource_id": pool.city},
    }
    return Scenario(**{**base, **changes})


def _other_key_signature(body: dict[str, Any]) -> str:
    private, _ = new_key()
    return jwt.encode(body, private, algorithm="RS256", headers={"kid": "not-ours"})


def _unsigned(body: dict[str, Any]) -> str:
    return jwt.encode(body, None, algorithm="none")  # type: ignore[arg-type]


CASES: list[tuple[str, dict[str, Any], int, str]] = [
    ("expired", {"clock_skew": -900, "lifetime": 300}, 403, "expired"),
    ("unsigned", {"sign": _unsigned}, 403, "not signed with RSA"),
    ("signed by another key", {"sign": _other_key_signature}, 403, "'not-ours'"),
    (
        "addressed to another client",
        {"claims": {"aud": "someone-else", "azp": None}},
        400,
        "No platform is registered",
    ),
    (
        "several audiences, no azp",
        {"claims": {"aud": ["kejian-client", "other"], "azp": None}},
        403,
        "several audiences",
    ),
    ("azp of another client", {"claims": {"azp": "other"}}, 403, "azp"),
    ("unknown deployment", {"deployment_id": "nope"}, 403, "'nope' is not registered"),
    ("no roles claim", {"claims": {CLAIM + "roles": None}}, 403, "Roles"),
    ("no sub", {"claims": {"sub": None}}, 403, "user (sub)"),
    ("wrong version", {"claims": {CLAIM + "version": "1.1"}}, 403, "version"),
    (
        "no resource link",
        {"claims": {CLAIM + "resource_link": None}},
        403,
        "Resource Link",
    ),
    (
        "other target",
        {"claims": {CLAIM + "target_link_uri": "https://evil.example/"}},
        403,
        "target_link_uri",
    ),
    (
        "unknown message",
        {"claims": {CLAIM + "message_type": "Surprise"}},
        403,
        "message",
    ),
]


@pytest.mark.parametrize(
    ("name", "changes", "status", "says"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_id_tokens_are_refused_readably_and_change_nothing(
    app,
    platform: Platform,
    pool: Pool,
    caplog: pytest.LogCaptureFixture,
    name: str,
    changes: dict[str, Any],
    status: int,
    says: str,
) -> None:
    register(app, platform)
    before = _counts()
    caplog.set_level(logging.WARNING, logger="kejian.lti")
    browser = Browser()
    form = browser.get(platform.start_url(_scenario(pool, **changes)))
    page = browser.submit(form)
    assert page.status_code == status, page.text[:300]
    assert says in error_of(page)
    # In the browser's language (Chinese without Accept-Language): what happened
    # for the person in front of the page, the details for the administrator.
    assert "给管理员：" in page.text
    summary = lxml.html.fromstring(page.text).get_element_by_id("summary")
    assert re.search(r"[\u4e00-\u9fff]", summary.text_content())
    assert "LTI request refused" in caplog.text
    if status == 403:  # the registration was found, so the log names it
        assert f"client {platform.client_id}" in caplog.text
    assert _counts() == before


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("id_token", "not-a-jwt", "3 parts"),
        ("id_token", "a.b.c", "decoded"),
        ("state", "state-made-up", "state is unknown"),
    ],
)
def test_malformed_forms_are_refused(
    app, platform: Platform, pool: Pool, field: str, value: str, says: str
) -> None:
    register(app, platform)
    browser = Browser()
    form = browser.get(platform.start_url(_scenario(pool)))
    page = browser.submit(form, replace={field: value})
    assert 400 <= page.status_code < 500
    assert says in error_of(page)


def test_errors_are_json_for_clients_that_ask(
    app, kejian: str, platform: Platform, pool: Pool
) -> None:
    register(app, platform)
    browser = Browser()
    form = browser.get(platform.start_url(_scenario(pool)))
    page = browser.submit(
        form, replace={"id_token": "x"}, headers={"Accept": "application/json"}
    )
    error = page.json()["error"]
    assert error["code"] == "lti_invalid_token"
    assert error["details"]["hint"]


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        (
            {
                "iss": "https://unknown.example",
                "login_hint": "u",
                "target_link_uri": "{tool}/lti/launch",
            },
            400,
            "No platform is registered",
        ),
        (
            {
                "iss": "{iss}",
                "login_hint": "u",
                "client_id": "unknown",
                "target_link_uri": "{tool}/lti/launch",
            },
            400,
            "client id 'unknown'",
        ),
        (
            {
                "iss": "{iss}",
                "login_hint": "u",
                "client_id": "kejian-client",
                "target_link_uri": "https://evil.example/",
            },
            400,
            "not a launch URL",
        ),
        (
            {
                "iss": "{iss}",
                "client_id": "kejian-client",
                "target_link_uri": "{tool}/lti/launch",
            },
            400,
            "login hint",
        ),
        ({}, 400, "target_link_uri"),
    ],
)
def test_bad_logins_are_refused(
    app,
    kejian: str,
    platform: Platform,
    world,
    params: dict[str, str],
    status: int,
    says: str,
) -> None:
    register(app, platform)
    filled = {k: v.format(tool=kejian, iss=platform.issuer) for k, v in params.items()}
    resp = requests.get(
        kejian + "/lti/login", params=filled, allow_redirects=False, timeout=10
    )
    assert resp.status_code == status
    assert says in error_of(resp)


def test_oversized_forms_are_413(app, kejian: str, platform: Platform, world) -> None:
    register(app, platform)
    session = requests.Session()
    session.cookies.set("kejian-lti-session", "x", path="/lti")
    resp = session.post(
        kejian + "/lti/launch",
        data={"id_token": "x" * 200_000, "state": "s"},
        timeout=10,
    )
    assert resp.status_code == 413
    assert "larger than an LTI message" in error_of(resp)


def test_a_platform_whose_key_set_is_down(
    app, platform: Platform, pool: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    register(app, platform)
    before = _counts()
    caplog.set_level(logging.WARNING, logger="kejian.lti")
    browser = Browser()
    platform.jwks_down = True
    try:
        page = browser.submit(browser.get(platform.start_url(_scenario(pool))))
    finally:
        platform.jwks_down = False
    assert page.status_code == 403
    assert "HTTP 503" in error_of(page)
    assert "key-set URL" in page.text
    assert "lti_key_set" in caplog.text
    assert _counts() == before
