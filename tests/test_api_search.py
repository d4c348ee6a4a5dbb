"""Search through the API: what each person finds, facets, and hostile queries."""

from __future__ import annotations

import pytest

VISIBILITIES = ["owner", "school", "district", "city", "public"]

# Who sees a resource of school s1 (district d1) published at each visibility.
EXPECTED = {
    None: {"public"},
    "teacher1": {"school", "district", "city", "public"},  # same school
    "teacher2": {"district", "city", "public"},  # same district, other school
    "teacher3": {"city", "public"},  # other district
    "uploader1": set(VISIBILITIES),  # the uploader sees their own
    "cityadmin": set(VISIBILITIES),
}


@pytest.fixture
def published(api, client, world):  # type: ignore[no-untyped-def]
    ids = {}
    for vis in VISIBILITIES:
        rid = api.create("uploader1", title=f"光合作用 {vis}", subject="biology")["id"]
        api.upload("uploader1", rid, f"{vis}.txt", f"叶绿体 {vis} chloroplast".encode())
        # The city admin may publish at any visibility without a review.
        resp = client.post(f"/api/v1/resources/{rid}/publish", json={"visibility": vis},
                           headers=world.headers("cityadmin"))
        assert resp.get_json()["status"] == "published"
        ids[vis] = rid
    return ids


@pytest.mark.parametrize("who", list(EXPECTED))
def test_results_and_counts_reveal_only_what_the_asker_may_see(api, published, who) -> None:
    body = api.search(who, q="叶绿体").get_json()
    seen = {vis for vis, rid in published.items() if rid in {h["id"] for h in body["hits"]}}
    assert seen == EXPECTED[who]
    assert body["total"] == len(EXPECTED[who])
    counts = {f["value"]: f["count"] for f in body["facets"]["subject"]}
    assert counts == {"biology": len(EXPECTED[who])}
    # Browsing without words obeys the same rule.
    assert api.search(who, subject="biology").get_json()["total"] == len(EXPECTED[who])


def test_filters_sort_pages_and_highlights(api, published) -> None:
    body = api.search("cityadmin", q="chloroplast", subject="生物", per_page=2, sort="newest").get_json()
    assert body["total"] == 5 and len(body["hits"]) == 2
    # Newest first (the index keeps whole seconds, so equal seconds may come either way).
    stamps = [h["updated_at"][:19] for h in body["hits"]]
    assert stamps == sorted(stamps, reverse=True)
    page2 = api.search("cityadmin", q="chloroplast", per_page=2, page=2, sort="newest").get_json()
    assert not {h["id"] for h in page2["hits"]} & {h["id"] for h in body["hits"]}
    hit = api.search("cityadmin", q="光合作用").get_json()["hits"][0]
    assert "<em>" in hit["highlights"]["title"]
    assert api.search("cityadmin", q="叶绿体", subject="math").get_json()["total"] == 0


@pytest.mark.parametrize(
    "q",
    ['"unbalanced', "title:foo AND (", "*?~^", "😀🎓 数学", "\x00\x01\x1f", "a" * 999,
     "SELECT * FROM resources; --", "<script>alert(1)</script>", ") OR 1=1"],
)
def test_any_query_text_answers_200(api, published, q) -> None:
    resp = api.search("teacher1", q=q)
    assert resp.status_code == 200, resp.get_json()
    assert "hits" in resp.get_json()


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"q": "x" * 10_000}, "too long"),
        ({"colour": "red"}, "colour"),
        ({"subject": "alchemy"}, "alchemy"),
        ({"facets": "subject,nonsense"}, "nonsense"),
        ({"sort": "random"}, "random"),
        ({"page": "abc"}, "page"),
        ({"per_page": "1000"}, "per_page"),
        ({"page": "9999", "per_page": "100"}, "narrow"),
    ],
)
def test_bad_search_parameters_are_400(api, params, word) -> None:
    resp = api.search(None, **params)
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert word in error["message"] and "Traceback" not in error["message"]


def test_search_engine_down_is_503_and_uploads_still_work(app, api, monkeypatch) -> None:
    from indexer.engines.base import SearchUnavailable

    engine = app.extensions["kejian"].engine

    def down(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise SearchUnavailable("connection refused to 10.0.0.1:9200")

    monkeypatch.setattr(engine, "search", down)
    monkeypatch.setattr(engine, "index", down)
    resp = api.search(None, q="数学")
    assert resp.status_code == 503
    assert "10.0.0.1" not in resp.get_json()["error"]["message"]
    rid = api.create("uploader1", title="离线")["id"]
    assert api.upload("uploader1", rid, "a.txt", b"still stored").status_code == 201


def test_popular_follows_downloads(api, client, world) -> None:
    ids = []
    for title in ("冷门 resource", "热门 resource"):
        rid = api.create("uploader1", title=title)["id"]
        f = api.upload("uploader1", rid, "a.txt", f"{title} text".encode()).get_json()["files"][0]
        api.publish("uploader1", rid, "school")
        ids.append((rid, f["content_url"]))
    for _ in range(2):
        client.get(ids[1][1], headers=world.headers("teacher1"))
    body = api.search("teacher1", q="resource", sort="popular").get_json()
    assert [h["id"] for h in body["hits"]] == [ids[1][0], ids[0][0]]
