"""Control characters in a resource's metadata: refused with the field named, on
SQLite and PostgreSQL (which cannot store NUL at all)."""

from __future__ import annotations

from typing import Any

#: Each text field with a control character in it; the description only refuses
#: those other than tabs and line breaks.
BAD_FIELDS = [
    ("title", {"title": "勾股定理\x00"}),
    ("title", {"title": "勾股\x1b[31m定理"}),
    ("title", {"title": "两行\n标题"}),
    ("description", {"description": "直角三角形\x00"}),
    ("description", {"description": "响铃\x07"}),
    ("keywords", {"keywords": ["几何", "定理\x00"]}),
    ("owner_org", {"owner_org": "s1\x00"}),
]


def _refused(resp: Any, field: str) -> None:
    assert resp.status_code == 422, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["message"]
    assert "Control characters" in str(error["details"]["fields"][field])


def test_post_refuses_control_characters_naming_the_field(api, client, world) -> None:
    headers = world.headers("uploader1")
    for field, bad in BAD_FIELDS:
        payload = {"title": "勾股定理", **bad}
        resp = client.post("/api/v1/resources", json=payload, headers=headers)
        _refused(resp, field)

    # Nothing was stored; the uploader has no resource.
    mine = client.get("/api/v1/resources", query_string={"mine": "true"}, headers=headers)
    assert mine.get_json()["total"] == 0


def test_patch_refuses_control_characters_and_keeps_the_resource(
    api, client, world
) -> None:
    headers = world.headers("uploader1")
    rid = api.create("uploader1", title="勾股定理", description="原来的说明")["id"]
    for field, bad in BAD_FIELDS:
        resp = client.patch(f"/api/v1/resources/{rid}", json=bad, headers=headers)
        _refused(resp, field)

    body = client.get(f"/api/v1/resources/{rid}", headers=headers).get_json()
    assert (body["title"], body["description"]) == ("勾股定理", "原来的说明")
    assert body["keywords"] == []


def test_a_description_keeps_tabs_and_line_breaks(api, client, world) -> None:
    headers = world.headers("uploader1")
    text = "第一段\r\n第二段\n\t缩进"
    rid = api.create("uploader1", title="勾股定理", description=text)["id"]
    assert client.get(f"/api/v1/resources/{rid}", headers=headers).get_json()[
        "description"
    ] == text

    resp = client.patch(
        f"/api/v1/resources/{rid}", json={"description": text + "\n"}, headers=headers
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["description"] == text + "\n"
