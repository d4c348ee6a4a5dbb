"""Review queue and workspace pages: who reviews what, approve and reject with a
reason, the uploader's notifications, favourites, recently viewed, and collections
shared by their link within their audience."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from repo_app.extensions import db
from repo_app.models import Notification, Resource, ReviewDecision, Status, Visibility
from tests.conftest import Api
from tests.web.conftest import Pages

TEXT = "课后练习：\n1. 计算 3+4。\n".encode() * 20


def published(api: Api, who: str, title: str, visibility: str) -> int:
    """A resource of *who* with a file, published (or asking) at *visibility*."""
    rid = int(api.create(who, title=title)["id"])
    assert (
        api.upload(who, rid, f"{title}.txt", TEXT + title.encode()).status_code == 201
    )
    assert api.publish(who, rid, visibility).status_code == 200
    return rid


def approved(api: Api, who: str, title: str, visibility: str) -> int:
    """As :func:`published`, with the city's reviewer approving a wider visibility."""
    rid = published(api, who, title, visibility)
    resp = api.client.post(
        f"/api/v1/resources/{rid}/review",
        json={"decision": "approve"},
        headers=api.world.headers("cityreviewer"),
    )
    assert resp.status_code == 200 and resp.get_json()["status"] == "published"
    return rid


@pytest.fixture
def requests_(api: Api) -> dict[str, int]:
    """uploader1 (s1, district d1) asks for district and for city visibility."""
    return {
        "district": published(api, "uploader1", "区级申请", "district"),
        "city": published(api, "uploader1", "市级申请", "city"),
    }


def test_each_reviewer_sees_what_they_may_decide(
    pages: Pages, requests_: dict[str, int]
) -> None:
    pages.login("d1reviewer")
    html = pages.get("/review/").get_data(as_text=True)
    # The district's reviewer decides for the district, not for the whole city.
    assert "区级申请" in html and "市级申请" not in html
    assert f"/api/v1/resources/{requests_['district']}/files/" in html  # preview
    pages.logout()
    pages.login("cityreviewer")
    html = pages.get("/review/").get_data(as_text=True)
    assert "区级申请" in html and "市级申请" in html
    pages.logout()
    pages.login("teacher1")
    assert pages.get("/review/").status_code == 403


def test_approve_and_reject_with_a_reason_the_uploader_reads(
    pages: Pages, requests_: dict[str, int]
) -> None:
    district, city = requests_["district"], requests_["city"]
    pages.login("cityreviewer")

    # A rejection needs a reason: said next to the field, the form kept.
    resp = pages.submit(
        f"/review/{city}",
        {"decision": "reject", f"r{city}-note": "  "},
        page="/review/",
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and f'id="r{city}-note-error"' in html
    assert db.session.get(Resource, city).status is Status.PENDING

    resp = pages.submit(f"/review/{district}", {"decision": "approve"}, page="/review/")
    assert resp.status_code == 303
    resp = pages.submit(
        f"/review/{city}",
        {"decision": "reject", f"r{city}-note": "请补充版权说明"},
        page="/review/",
    )
    assert resp.status_code == 303
    db.session.expire_all()
    approved, rejected = (
        db.session.get(Resource, district),
        db.session.get(Resource, city),
    )
    assert (approved.status, approved.visibility) == (
        Status.PUBLISHED,
        Visibility.DISTRICT,
    )
    assert rejected.status is Status.DRAFT
    decisions = db.session.scalars(select(ReviewDecision)).all()
    assert {(d.resource_id, d.approved, d.note) for d in decisions} == {
        (district, True, ""),
        (city, False, "请补充版权说明"),
    }
    assert "没有" in pages.get("/review/").get_data(as_text=True)  # queue empty

    # The uploader reads both in the workspace, the reason too.
    pages.logout()
    pages.login("uploader1")
    html = pages.get("/workspace").get_data(as_text=True)
    assert 'class="count"' in html
    assert "区级申请" in html and "请补充版权说明" in html
    assert len(re.findall(r'class="notification notification-\w+ unread"', html)) == 2
    pages.submit("/workspace/notifications/read", {}, page="/workspace")
    assert (
        db.session.scalar(select(Notification).where(Notification.read_at.is_(None)))
        is None
    )


def test_favourites_and_recently_viewed(pages: Pages, api: Api) -> None:
    open_to_all = approved(api, "uploader2", "公开课件", "public")
    private = published(api, "uploader2", "私有课件", "owner")
    pages.login("teacher1")
    resp = pages.submit(
        f"/workspace/favourites/{open_to_all}",
        {"on": "1", "next": "/workspace"},
        page="/workspace",
    )
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/workspace")
    # What they may not read cannot be favourited.
    resp = pages.submit(
        f"/workspace/favourites/{private}", {"on": "1"}, page="/workspace"
    )
    assert resp.status_code == 404

    # Opening a file puts the resource in "recently viewed".
    files = api.client.get(f"/api/v1/resources/{open_to_all}").get_json()["files"]
    assert pages.get(files[0]["content_url"]).status_code == 200
    html = pages.get("/workspace").get_data(as_text=True)
    favourites, _, rest = html.partition('id="coll-title"')
    assert "公开课件" in favourites
    assert "公开课件" in rest.split('id="recent-title"')[1]

    pages.submit(f"/workspace/favourites/{open_to_all}", {"on": "0"}, page="/workspace")
    html = pages.get("/workspace").get_data(as_text=True)
    assert (
        "公开课件"
        not in html.partition('id="coll-title"')[0].partition('id="fav-title"')[2]
    )


def test_a_collection_is_shared_by_its_link_within_its_audience(
    pages: Pages, api: Api
) -> None:
    public = approved(api, "uploader1", "公开的", "public")
    school = published(api, "uploader1", "校内的", "school")
    pages.login("uploader1")
    resp = pages.submit(
        "/workspace", {"title": "春季备课", "description": "", "audience": "owner"}
    )
    assert resp.status_code == 303
    page = resp.headers["Location"]
    collection_id = int(page.rsplit("/", 1)[1])
    for rid in (public, school):
        pages.submit(
            "/workspace/collect",
            {"collection_id": str(collection_id), "resource_id": str(rid)},
            page="/workspace",
        )
    html = pages.get(page).get_data(as_text=True)
    link = html.split('id="share-link" type="text" readonly value="', 1)[1].split('"')[
        0
    ]
    slug_path = "/c/" + link.rsplit("/c/", 1)[1]
    assert "公开的" in html and "校内的" in html

    # Private: nobody else opens it.
    pages.logout()
    pages.login("teacher1")
    assert pages.get(slug_path).status_code == 404

    # Shared with the district: teacher2 (another school of d1) opens it and sees
    # only what they may see; teacher3 (d2) does not.
    pages.logout()
    pages.login("uploader1")
    pages.submit(page, {"title": "春季备课", "description": "", "audience": "district"})
    pages.logout()
    pages.login("teacher2")
    html = pages.get(slug_path).get_data(as_text=True)
    assert "公开的" in html and "校内的" not in html
    pages.logout()
    pages.login("teacher3")
    assert pages.get(slug_path).status_code == 404
    pages.logout()
    pages.login("teacher1")  # same school: both items
    html = pages.get(slug_path).get_data(as_text=True)
    assert "公开的" in html and "校内的" in html
    # The owner's page is theirs alone.
    assert pages.get(page).status_code == 404
