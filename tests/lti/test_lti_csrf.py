"""The site's CSRF check and the LTI endpoints: page forms still need the token,
while platforms post to ``/lti`` cross-site without one (the LTI blueprint is exempt;
signed id_tokens, state and nonces protect it)."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select

from tests.lti.conftest import Browser, Pool, error_of, launch, register
from tests.lti.platform import Platform, deep_linking
from tests.web.conftest import Pages


def test_page_forms_need_a_token_and_lti_posts_do_not(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    from repo_app.extensions import db
    from repo_app.models import Organisation

    register(app, platform, "s1")

    # A signed-in administrator's page form without its token changes nothing.
    pages = Pages(app.test_client())
    pages.login("cityadmin")
    form = {"name": "新学校", "code": "s9", "kind": "school", "parent": "d1"}
    refused = pages.client.post("/admin/orgs/new", data=form)
    assert refused.status_code == 303
    db.session.rollback()
    added = select(Organisation).where(Organisation.code == "s9")
    assert db.session.scalar(added) is None
    # With the token the same form works, so the refusal was the token's.
    assert pages.submit("/admin/orgs/new", form).status_code == 303
    db.session.rollback()
    assert db.session.scalar(added) is not None

    # The platform's launch is a cross-site form POST without any token: accepted.
    picker = launch(browser, platform, deep_linking())
    assert picker.status_code == 200, picker.text[:300]
    assert urlsplit(picker.url).path.startswith("/lti/picker/")
    # The picker opens inside the LMS's frame.
    assert "frame-ancestors *" in picker.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in picker.headers

    # The picker's form is exempt too, but it works only in the launch's browser.
    stolen = Browser().submit(
        picker, form_id="choose", extra=[("resource", str(pool.city))]
    )
    assert stolen.status_code == 403
    assert "another browser" in error_of(stolen)
    returned = browser.submit(
        picker, form_id="choose", extra=[("resource", str(pool.city))]
    )
    assert returned.status_code == 200
    assert browser.submit(returned).json() == {"saved": 1}

    # Platforms may post the login initiation as well (LTI 1.3 allows both).
    login = app.test_client().post(
        "/lti/login",
        data={
            "iss": platform.issuer,
            "client_id": platform.client_id,
            "login_hint": "teacher-1",
            # The test client's own address, which the launch URL is made from.
            "target_link_uri": "http://localhost/lti/launch",
        },
    )
    assert login.status_code == 302
    assert login.headers["Location"].startswith(platform.login_url)
