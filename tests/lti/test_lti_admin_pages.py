"""The LTI administration pages, through the test client: who sees which registration,
registering by hand, approving, disabling and enabling, in both languages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from lti.models import Registration, RegistrationStatus
from repo_app.extensions import db
from tests.lti.conftest import cli

PASSWORD = "correct horse battery"
LTI = Path(__file__).resolve().parents[2] / "lti"

HAND_MADE = {
    "name": "城东一中 Canvas",
    "issuer": "https://canvas.instructure.com",
    "client_id": "10000000000042",
    "login_url": "https://sso.canvaslms.com/api/lti/authorize_redirect",
    "token_url": "https://sso.canvaslms.com/login/oauth2/token",
    "key_set_url": "https://sso.canvaslms.com/api/lti/security/jwks",
    "deployments": "42:abc\n43:def",
    "org": "s1",
}


class AdminPages:
    """A signed-in person's browser on the pages (test client)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def login(self, username: str) -> None:
        """Sign in as *username*, in a browser of their own."""
        self.client = self.client.application.test_client()
        resp = self.submit("/login", {"username": username, "password": PASSWORD})
        assert resp.status_code == 303, resp.get_data(as_text=True)[:300]

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def submit(self, path: str, data: dict[str, str], page: str | None = None) -> Any:
        html = self.client.get(page or path).get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
        assert token, f"no form on {page or path}"
        return self.client.post(path, data={"csrf_token": token.group(1), **data})


@pytest.fixture
def admin_pages(client: Any, world: Any) -> AdminPages:
    return AdminPages(client)


def registered(app: Any, issuer: str, client_id: str, org: str) -> None:
    """An active registration, made by ``kejian lti register``."""
    result = cli(
        app,
        "lti",
        "register",
        "--issuer",
        issuer,
        "--client-id",
        client_id,
        "--login-url",
        f"{issuer}/auth",
        "--key-set-url",
        f"{issuer}/jwks",
        "--deployment",
        "1",
        "--org",
        org,
        "--name",
        f"{org} LMS",
    )
    assert result.exit_code == 0, result.output


def pending(issuer: str, deployments: list[str] | None = None) -> int:
    """A registration as Dynamic Registration leaves it: pending, bound to nobody."""
    from lti import registrations

    row = Registration(
        name="Moodle",
        issuer=issuer,
        client_id="dyn-client",
        auth_login_url=f"{issuer}/auth",
        key_set_url=f"{issuer}/jwks",
        status=RegistrationStatus.PENDING,
        source="dynamic",
    )
    db.session.add(row)
    registrations.add_deployments(row, deployments or [])
    db.session.commit()
    return row.id


def rows_shown(resp: Any) -> dict[str, str]:
    """{issuer: state} of the registrations table."""
    doc = lxml.html.fromstring(resp.get_data(as_text=True))
    return {
        tr.xpath("string(td[2])").strip(): tr.get("data-status")
        for tr in doc.xpath('//table[@id="registrations"]/tbody/tr[@data-status]')
    }


def field_error(resp: Any, name: str) -> str:
    doc = lxml.html.fromstring(resp.get_data(as_text=True))
    found = doc.xpath(f'//p[@id="{name}-error"]')
    return found[0].text_content().strip() if found else ""


def value_of(resp: Any, name: str) -> str:
    doc = lxml.html.fromstring(resp.get_data(as_text=True))
    element = doc.get_element_by_id(name)
    if element.tag == "textarea":
        return element.text_content().strip()
    return element.get("value")


def current(issuer: str) -> Registration:
    db.session.expire_all()
    row = db.session.scalar(db.select(Registration).filter_by(issuer=issuer))
    assert row is not None
    return row


def test_administrators_see_their_subtree_and_only_the_city_sees_pending_ones(
    app: Any, admin_pages: AdminPages
) -> None:
    registered(app, "https://moodle.s1.example", "a", "s1")
    registered(app, "https://moodle.s3.example", "b", "s3")
    registered(app, "https://canvas.d1.example", "c", "d1")
    pending("https://new.example")

    admin_pages.login("s1admin")
    page = admin_pages.get("/admin/lti/")
    assert page.status_code == 200
    # Anyone may leave a pending registration: a school must not claim it.
    assert rows_shown(page) == {"https://moodle.s1.example": "active"}
    # The addresses to paste into a platform.
    html = page.get_data(as_text=True)
    for path in ("/lti/register", "/lti/login", "/lti/launch", "/lti/jwks"):
        assert f"http://localhost{path}</code>" in html

    admin_pages.login("cityadmin")
    assert rows_shown(admin_pages.get("/admin/lti/"))["https://new.example"] == "pending"
    assert set(rows_shown(admin_pages.get("/admin/lti/"))) == {
        "https://new.example",
        "https://moodle.s1.example",
        "https://moodle.s3.example",
        "https://canvas.d1.example",
    }


def test_people_who_administer_nothing_are_refused(
    app: Any, admin_pages: AdminPages
) -> None:
    admin_pages.login("teacher1")
    for path in ("/admin/lti/", "/admin/lti/new"):
        assert admin_pages.get(path).status_code == 403
    assert 'href="/admin/lti/"' not in admin_pages.get("/").get_data(as_text=True)

    admin_pages.login("s1admin")
    assert 'href="/admin/lti/"' in admin_pages.get("/").get_data(as_text=True)
    # The administration home and its sub-menu lead there too.
    for page in ("/admin/", "/admin/orgs"):
        html = admin_pages.get(page).get_data(as_text=True)
        assert html.count('href="/admin/lti/"') >= 2, page


def test_the_pages_speak_both_languages(app: Any, admin_pages: AdminPages) -> None:
    admin_pages.login("cityadmin")
    zh = admin_pages.get("/admin/lti/").get_data(as_text=True)
    assert "<h1>LMS 对接</h1>" in zh
    assert "手动注册平台" in zh

    admin_pages.client.set_cookie("kejian_lang", "en")
    en = admin_pages.get("/admin/lti/new").get_data(as_text=True)
    assert "<h1>Register a platform by hand</h1>" in en
    assert "Key-set URL" in en


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_every_message_of_the_pages_is_in_each_catalogue(locale: str) -> None:
    wanted = {
        message
        for _, _, message, *_ in extract_from_dir(
            str(LTI), [("**.py", "python"), ("**/templates/**.html", "jinja2")]
        )
    }
    po = LTI / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as fh:
        catalog = read_po(fh)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    assert "LMS connections" in wanted
    assert sorted(wanted - translated) == []


def test_registering_by_hand_explains_each_field_and_keeps_what_was_typed(
    app: Any, admin_pages: AdminPages
) -> None:
    admin_pages.login("s1admin")
    typed = {
        **HAND_MADE,
        "client_id": "",
        "login_url": "sso.canvaslms.com/authorize",
        "deployments": "42:abc\n" + "x" * 300,
        "org": "s3",  # not administered by s1admin
    }
    resp = admin_pages.submit("/admin/lti/new", typed)
    assert resp.status_code == 200
    assert field_error(resp, "client_id") == "此项必填。"
    assert "https://" in field_error(resp, "login_url")
    assert "255" in field_error(resp, "deployments")
    assert field_error(resp, "org")
    assert field_error(resp, "issuer") == ""
    assert value_of(resp, "login_url") == "sso.canvaslms.com/authorize"
    assert value_of(resp, "issuer") == HAND_MADE["issuer"]
    assert value_of(resp, "deployments").startswith("42:abc")
    assert db.session.scalar(db.select(db.func.count(Registration.id))) == 0

    # Without a deployment id or the policy that accepts new ones, no launch could pass.
    resp = admin_pages.submit("/admin/lti/new", {**HAND_MADE, "deployments": ""})
    assert resp.status_code == 200
    assert "部署 ID" in field_error(resp, "deployments")
    assert value_of(resp, "client_id") == HAND_MADE["client_id"]
    assert db.session.scalar(db.select(db.func.count(Registration.id))) == 0

    resp = admin_pages.submit("/admin/lti/new", HAND_MADE)
    assert resp.status_code == 303
    row = current(HAND_MADE["issuer"])
    assert row.status is RegistrationStatus.ACTIVE
    assert row.org is not None and row.org.code == "s1"
    assert [d.deployment_id for d in row.deployments] == ["42:abc", "43:def"]
    assert row.auth_token_url == HAND_MADE["token_url"]
    assert row.source == "manual"

    # The same issuer and client id again.
    resp = admin_pages.submit("/admin/lti/new", HAND_MADE)
    assert resp.status_code == 200
    assert "已经注册" in field_error(resp, "client_id")


def test_approving_binds_a_pending_registration_to_an_administered_organisation(
    app: Any, admin_pages: AdminPages
) -> None:
    rid = pending("https://moodle.example")
    path = f"/admin/lti/{rid}/approve"

    # A school's administrator cannot claim a pending registration, by page or form.
    admin_pages.login("s1admin")
    assert admin_pages.get(path).status_code == 404
    resp = admin_pages.submit(
        path, {"org": "s1", "deployments": "7"}, page="/admin/lti/new"
    )
    assert resp.status_code == 404
    assert current("https://moodle.example").status is RegistrationStatus.PENDING

    admin_pages.login("cityadmin")
    # A choice that names no organisation is refused next to the field.
    resp = admin_pages.submit(path, {"org": "nowhere", "deployments": "7"})
    assert resp.status_code == 200
    assert field_error(resp, "org")
    assert current("https://moodle.example").status is RegistrationStatus.PENDING

    # The platform sent no deployment id: one must be given, or new ones accepted.
    resp = admin_pages.submit(path, {"org": "s1", "deployments": ""})
    assert resp.status_code == 200
    assert "部署 ID" in field_error(resp, "deployments")
    assert current("https://moodle.example").status is RegistrationStatus.PENDING

    resp = admin_pages.submit(path, {"org": "s1", "deployments": "7"})
    assert resp.status_code == 303
    row = current("https://moodle.example")
    assert row.status is RegistrationStatus.ACTIVE
    assert row.org is not None and row.org.code == "s1"
    assert [d.deployment_id for d in row.deployments] == ["7"]
    assert admin_pages.get(path).status_code == 404  # active already


def test_accepting_new_deployments_approves_without_one(
    app: Any, admin_pages: AdminPages
) -> None:
    rid = pending("https://canvas.example")
    admin_pages.login("cityadmin")
    resp = admin_pages.submit(
        f"/admin/lti/{rid}/approve", {"org": "s3", "accept_new": "y"}
    )
    assert resp.status_code == 303
    row = current("https://canvas.example")
    assert row.status is RegistrationStatus.ACTIVE
    assert row.unknown_deployments.value == "accept"


def test_disabling_and_enabling_stay_within_the_subtree(
    app: Any, admin_pages: AdminPages
) -> None:
    registered(app, "https://moodle.s1.example", "a", "s1")
    registered(app, "https://moodle.s3.example", "b", "s3")
    mine = current("https://moodle.s1.example").id
    theirs = current("https://moodle.s3.example").id
    admin_pages.login("s1admin")

    resp = admin_pages.submit(f"/admin/lti/{mine}/disable", {}, page="/admin/lti/")
    assert resp.status_code == 303
    assert current("https://moodle.s1.example").status is RegistrationStatus.DISABLED
    assert rows_shown(admin_pages.get("/admin/lti/"))[
        "https://moodle.s1.example"
    ] == "disabled"

    resp = admin_pages.submit(f"/admin/lti/{mine}/enable", {}, page="/admin/lti/")
    assert resp.status_code == 303
    assert current("https://moodle.s1.example").status is RegistrationStatus.ACTIVE

    # Another school's registration is not there for s1's administrator.
    for action in ("disable", "approve"):
        resp = admin_pages.submit(
            f"/admin/lti/{theirs}/{action}", {}, page="/admin/lti/"
        )
        assert resp.status_code == 404
    assert current("https://moodle.s3.example").status is RegistrationStatus.ACTIVE

    # A button whose CSRF token expired changes nothing and leads back to the list.
    resp = admin_pages.client.post(f"/admin/lti/{mine}/disable", follow_redirects=True)
    assert resp.status_code == 200
    assert resp.request.path == "/admin/lti/"
    assert "registration-" in resp.get_data(as_text=True)
    assert current("https://moodle.s1.example").status is RegistrationStatus.ACTIVE


def edit_path(issuer: str) -> str:
    return f"/admin/lti/{current(issuer).id}/edit"


def form_of(resp: Any) -> dict[str, str]:
    """The edit form's fields as the page fills them in (a browser sends these)."""
    doc = lxml.html.fromstring(resp.get_data(as_text=True))
    form = doc.xpath("//form[.//textarea[@name='deployments']]")[0]
    return {
        name: value
        for name, value in form.form_values()
        if name != "csrf_token"
    }


def test_changing_a_registration_s_urls_and_deployment_ids(
    app: Any, admin_pages: AdminPages
) -> None:
    registered(app, "https://moodle.s1.example", "a", "s1")
    path = edit_path("https://moodle.s1.example")
    admin_pages.login("s1admin")

    # The list leads to the page, which shows what the registration holds now.
    listed = admin_pages.get("/admin/lti/").get_data(as_text=True)
    assert f'href="{path}"' in listed
    page = admin_pages.get(path)
    assert page.status_code == 200
    shown = form_of(page)
    assert shown["login_url"] == "https://moodle.s1.example/auth"
    assert shown["key_set_url"] == "https://moodle.s1.example/jwks"
    assert shown["deployments"].strip() == "1"

    # The platform moved its endpoints and was installed in a second course.
    changed = {
        **shown,
        "login_url": "https://lms.s1.example/mod/lti/auth.php",
        "token_url": "https://lms.s1.example/mod/lti/token.php",
        "key_set_url": "https://lms.s1.example/mod/lti/certs.php",
        "deployments": "1\n2:course-7",
    }
    resp = admin_pages.submit(path, changed)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    row = current("https://moodle.s1.example")
    assert row.auth_login_url == changed["login_url"]
    assert row.auth_token_url == changed["token_url"]
    assert row.key_set_url == changed["key_set_url"]
    assert [d.deployment_id for d in row.deployments] == ["1", "2:course-7"]
    assert row.org is not None and row.org.code == "s1"

    # A deployment id no launch used is removed by leaving out its line.
    resp = admin_pages.submit(path, {**changed, "deployments": "2:course-7"})
    assert resp.status_code == 303
    row = current("https://moodle.s1.example")
    assert [d.deployment_id for d in row.deployments] == ["2:course-7"]


def test_changes_that_cannot_be_made_are_said_next_to_their_fields(
    app: Any, admin_pages: AdminPages
) -> None:
    from lti.models import Launch, Registration

    registered(app, "https://moodle.s1.example", "a", "s1")
    path = edit_path("https://moodle.s1.example")
    row = current("https://moodle.s1.example")
    # A launch was recorded with deployment 1.
    db.session.add(
        Launch(
            token="t" * 40,
            registration_id=row.id,
            deployment_pk=row.deployments[0].id,
            message_type="LtiResourceLinkRequest",
            role="learner",
            expires_at=row.created_at,
        )
    )
    db.session.commit()
    before = {
        c.key: getattr(current("https://moodle.s1.example"), c.key)
        for c in Registration.__table__.columns
        if c.key != "updated_at"
    }
    admin_pages.login("s1admin")
    shown = form_of(admin_pages.get(path))

    resp = admin_pages.submit(
        path, {**shown, "login_url": "lms.s1.example/auth", "key_set_url": ""}
    )
    assert resp.status_code == 200
    assert "https://" in field_error(resp, "login_url")
    assert field_error(resp, "key_set_url") == "此项必填。"
    assert value_of(resp, "login_url") == "lms.s1.example/auth"

    resp = admin_pages.submit(path, {**shown, "deployments": ""})
    assert resp.status_code == 200
    assert "部署 ID" in field_error(resp, "deployments")

    # Removing the deployment id a launch used would delete its record.
    resp = admin_pages.submit(path, {**shown, "deployments": "9"})
    assert resp.status_code == 200
    assert "使用 1 的启动记录" in field_error(resp, "deployments")
    assert "停用" in field_error(resp, "deployments")
    assert value_of(resp, "deployments") == "9"

    # Without the form's CSRF token nothing is changed either.
    resp = admin_pages.client.post(
        path, data={**shown, "login_url": "https://elsewhere.example/auth"}
    )
    # It leads back to the form with what was typed, to check and send again.
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith(path)
    again = admin_pages.get(path)
    assert value_of(again, "login_url") == "https://elsewhere.example/auth"

    after = current("https://moodle.s1.example")
    assert {k: getattr(after, k) for k in before} == before
    assert [d.deployment_id for d in after.deployments] == ["1"]


def test_only_the_city_binds_a_registration_to_another_organisation(
    app: Any, admin_pages: AdminPages
) -> None:
    registered(app, "https://moodle.s1.example", "a", "s1")
    registered(app, "https://moodle.s3.example", "b", "s3")
    path = edit_path("https://moodle.s1.example")

    # A school's administrator has no organisation field; one sent is ignored.
    admin_pages.login("s1admin")
    page = admin_pages.get(path)
    assert "org" not in form_of(page)
    resp = admin_pages.submit(path, {**form_of(page), "org": "s3"})
    assert resp.status_code == 303
    assert current("https://moodle.s1.example").org.code == "s1"
    # Nor can they open another school's registration, or a pending one.
    assert admin_pages.get(edit_path("https://moodle.s3.example")).status_code == 404
    rid = pending("https://new.example")
    assert admin_pages.get(f"/admin/lti/{rid}/edit").status_code == 404

    # The city's administrator chooses among its organisations.
    admin_pages.login("cityadmin")
    page = admin_pages.get(path)
    assert form_of(page)["org"] == "s1"
    resp = admin_pages.submit(path, {**form_of(page), "org": "nowhere"})
    assert resp.status_code == 200
    assert field_error(resp, "org")
    assert current("https://moodle.s1.example").org.code == "s1"
    resp = admin_pages.submit(path, {**form_of(page), "org": "s2"})
    assert resp.status_code == 303
    assert current("https://moodle.s1.example").org.code == "s2"
    assert admin_pages.get(f"/admin/lti/{rid}/edit").status_code == 404

    # It is no longer s1's to change.
    admin_pages.login("s1admin")
    assert admin_pages.get(path).status_code == 404
