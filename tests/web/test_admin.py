"""Administration pages: organisations, users and roles, vocabularies; each
administrator sees and changes only what they administer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from repo_app.extensions import db
from repo_app.models import Locality, Organisation, OrgKind, User
from tests.web.conftest import Pages


def options(html: str, select_id: str) -> list[str]:
    block = html.split(f'id="{select_id}"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'value="([^"]*)"', block)


def user_id(name: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == name))  # type: ignore[return-value]


@pytest.mark.parametrize("who", [None, "teacher1", "uploader1", "d1reviewer"])
def test_only_admins_enter(pages: Pages, world: Any, who: str | None) -> None:
    if who:
        pages.login(who)
    resp = pages.get("/admin/orgs")
    if who is None:
        assert resp.status_code == 303
        assert resp.headers["Location"].endswith("/login")
    else:
        assert resp.status_code == 403
        assert "您的账号没有查看此页面所需的角色" in resp.get_data(as_text=True)


def test_city_admin_sees_the_whole_tree(pages: Pages, world: Any) -> None:
    pages.login("cityadmin")
    html = pages.get("/admin/orgs").get_data(as_text=True)
    for name in ("示范市", "城东区", "山南县", "城东一中", "城东二中", "石门村小"):
        assert name in html
    assert "乡村" in html  # s3's locality


def test_school_admin_sees_only_the_school(pages: Pages, world: Any) -> None:
    pages.login("s1admin")
    html = pages.get("/admin/orgs").get_data(as_text=True)
    assert "城东一中" in html
    assert "城东二中" not in html and "山南县" not in html
    # Nothing can be added below a school.
    assert options(pages.get("/admin/orgs/new").get_data(as_text=True), "parent") == []


def test_city_admin_adds_a_rural_school(pages: Pages, world: Any) -> None:
    pages.login("cityadmin")
    resp = pages.submit(
        "/admin/orgs/new",
        {
            "name": "石门第二小学",
            "code": "d2-s9",
            "kind": "school",
            "parent": "d2",
            "locality": "rural",
        },
    )
    assert resp.status_code == 303
    org = db.session.scalar(select(Organisation).where(Organisation.code == "d2-s9"))
    assert org is not None
    assert (org.kind, org.locality, org.parent.code) == (
        OrgKind.SCHOOL,
        Locality.RURAL,
        "d2",
    )
    html = pages.get("/admin/orgs").get_data(as_text=True)
    assert "石门第二小学" in html and "已添加 石门第二小学。" in html


def test_bad_values_are_said_next_to_the_field(pages: Pages, world: Any) -> None:
    pages.login("cityadmin")
    html = pages.submit(
        "/admin/orgs/new",
        {"name": "", "code": "has space", "kind": "school", "parent": "d1"},
    ).get_data(as_text=True)
    assert 'id="name-error">此项必填。' in html
    assert 'id="code-error">请使用 1 到 64 个字母' in html
    assert 'value="has space"' in html  # what was typed is kept

    html = pages.submit(
        "/admin/orgs/new",
        {"name": "重复", "code": "s1", "kind": "school", "parent": "d1"},
    ).get_data(as_text=True)
    assert 'id="code-error">此代码已被使用，请换一个。' in html

    html = pages.submit(
        "/admin/orgs/new",
        {"name": "错层", "code": "x1", "kind": "district", "parent": "d1"},
    ).get_data(as_text=True)
    assert 'id="parent-error">区县属于市，学校属于区县。' in html


def test_school_admin_cannot_add_elsewhere(pages: Pages, world: Any) -> None:
    pages.login("s1admin")
    resp = pages.submit(
        "/admin/orgs/new",
        {"name": "越权", "code": "x2", "kind": "school", "parent": "d1"},
    )
    assert resp.status_code == 200
    assert 'id="parent-error"' in resp.get_data(as_text=True)
    assert (
        db.session.scalar(select(Organisation).where(Organisation.code == "x2")) is None
    )


def test_users_are_listed_within_the_scope(pages: Pages, world: Any) -> None:
    pages.login("s1admin")
    html = pages.get("/admin/users").get_data(as_text=True)
    assert "uploader1" in html and "teacher1" in html
    assert "uploader2" not in html and "teacher3" not in html
    # A user outside the scope is not found, rather than forbidden.
    assert pages.get(f"/admin/users/{user_id('teacher3')}").status_code == 404


def test_add_user_grant_and_revoke(pages: Pages, world: Any) -> None:
    pages.login("s1admin")
    resp = pages.submit(
        "/admin/users/new",
        {
            "username": "wang",
            "display_name": "王老师",
            "password": "long enough pw",
            "org": "s1",
            "role": "teacher",
        },
    )
    assert resp.status_code == 303
    wang = user_id("wang")
    page = f"/admin/users/{wang}"
    assert resp.headers["Location"].endswith(page)

    resp = pages.submit(page, {"org": "s1", "role": "uploader"})
    assert resp.status_code == 303
    html = pages.get(page).get_data(as_text=True)
    assert "上传员 · 城东一中" in html and "教师 · 城东一中" in html

    # Granting it twice is said next to the role.
    html = pages.submit(page, {"org": "s1", "role": "uploader"}).get_data(as_text=True)
    assert 'id="role-error">此人在该单位已有这个角色。' in html

    person = db.session.get(User, wang)
    db.session.refresh(person)
    membership = next(m for m in person.memberships if m.role.value == "teacher")
    resp = pages.submit(f"{page}/roles/{membership.id}/revoke", {}, page=page)
    assert resp.status_code == 303
    html = pages.get(page).get_data(as_text=True)
    assert "教师 · 城东一中" not in html and "上传员 · 城东一中" in html


def test_new_user_form_keeps_values_and_refuses_short_passwords(
    pages: Pages, world: Any
) -> None:
    pages.login("s1admin")
    html = pages.submit(
        "/admin/users/new",
        {
            "username": "teacher1",
            "display_name": "李",
            "password": "short",
            "org": "s1",
            "role": "teacher",
        },
    ).get_data(as_text=True)
    assert 'id="password-error">请输入 8 到 200 个字符。' in html
    assert 'value="李"' in html

    html = pages.submit(
        "/admin/users/new",
        {
            "username": "teacher1",
            "password": "long enough pw",
            "org": "s1",
            "role": "teacher",
        },
    ).get_data(as_text=True)
    assert 'id="username-error">此用户名已被使用，请换一个。' in html


def test_admin_cannot_revoke_their_own_admin_role(pages: Pages, world: Any) -> None:
    pages.login("s1admin")
    me = db.session.get(User, user_id("s1admin"))
    page = f"/admin/users/{me.id}"
    assert "/revoke" not in pages.get(page).get_data(as_text=True)
    resp = pages.submit(f"{page}/roles/{me.memberships[0].id}/revoke", {}, page=page)
    assert resp.status_code == 303
    assert "不能撤销自己的管理员角色" in pages.get(page).get_data(as_text=True)


def test_vocabularies_are_listed_in_the_page_language(pages: Pages, world: Any) -> None:
    pages.login("cityadmin")
    html = pages.get("/admin/vocabularies").get_data(as_text=True)
    assert "<code>math</code></td><td>数学</td>" in html
    pages.get("/lang/en")
    html = pages.get("/admin/vocabularies").get_data(as_text=True)
    assert "<code>math</code></td><td>Mathematics</td>" in html


def test_unknown_ids_are_not_found(pages: Pages, world: Any) -> None:
    pages.login("cityadmin")
    assert pages.get("/admin/users/999999").status_code == 404
    assert pages.get("/admin/users/abc").status_code == 404
