"""Search through the API: what each person finds, facets, and hostile queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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


def test_results_and_counts_reveal_only_what_the_asker_may_see(api, published) -> None:
    for who, expected in EXPECTED.items():
        body = api.search(who, q="叶绿体").get_json()
        hit_ids = {h["id"] for h in body["hits"]}
        seen = {vis for vis, rid in published.items() if rid in hit_ids}
        assert seen == expected, who
        assert body["total"] == len(expected), who
        counts = {f["value"]: f["count"] for f in body["facets"]["subject"]}
        assert counts == {"biology": len(expected)}, who
        # Browsing without words obeys the same rule.
        browsed = api.search(who, subject="biology").get_json()
        assert browsed["total"] == len(expected), who


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
    # The title's pinyin finds it as well.
    assert api.search("cityadmin", q="guanghezuoyong").get_json()["total"] == 5
    assert api.search("cityadmin", q="叶绿体", subject="math").get_json()["total"] == 0


HOSTILE_QUERIES = [
    '"unbalanced',
    "title:foo AND (",
    "*?~^",
    "😀🎓 数学",
    "\x00\x01\x1f",
    "a" * 999,
    "SELECT * FROM resources; --",
    "<script>alert(1)</script>",
    ") OR 1=1",
]


def test_any_query_text_answers_200(api, published) -> None:
    for q in HOSTILE_QUERIES:
        resp = api.search("teacher1", q=q)
        assert resp.status_code == 200, (q, resp.get_json())
        assert "hits" in resp.get_json()


def test_bad_search_parameters_are_400(api) -> None:
    for params, word in [
        ({"q": "x" * 10_000}, "too long"),
        ({"colour": "red"}, "colour"),
        ({"subject": "alchemy"}, "alchemy"),
        ({"facets": "subject,nonsense"}, "nonsense"),
        ({"sort": "random"}, "random"),
        ({"page": "abc"}, "page"),
        ({"per_page": "1000"}, "per_page"),
        ({"page": "9999", "per_page": "100"}, "narrow"),
    ]:
        resp = api.search(None, **params)
        assert resp.status_code == 400, params
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


def _restamp(stamps: dict[int, datetime]) -> None:
    """Give resources these ``updated_at`` values, in the database and the index."""
    from repo_app.extensions import db
    from repo_app.models import Resource
    from repo_app.services import indexing

    for rid, stamp in stamps.items():
        db.session.get(Resource, rid).updated_at = stamp
        indexing.mark(rid)
    db.session.commit()
    indexing.deliver()


def test_date_filters_take_days_and_moments(api, published) -> None:
    # One resource a day, at noon UTC, from 1 to 5 March.
    days = {
        rid: datetime(2026, 3, 1 + i, 12, tzinfo=UTC)
        for i, rid in enumerate(published.values())
    }
    _restamp(days)
    by_day = {stamp.day: rid for rid, stamp in days.items()}

    def found(**params: str) -> set[int]:
        body = api.search("cityadmin", **params).get_json()
        assert body["total"] == len(body["hits"])
        return {h["id"] for h in body["hits"]}

    def on(*numbers: int) -> set[int]:
        return {by_day[n] for n in numbers}

    # A date is a whole UTC day at either end.
    assert found(**{"from": "2026-03-02", "to": "2026-03-03"}) == on(2, 3)
    assert found(to="2026-03-01") == on(1)
    # A moment: naive means UTC, the end is excluded, an offset is honoured.
    assert found(**{"from": "2026-03-04T12:00:00"}) == on(4, 5)
    assert found(to="2026-03-02T12:00:00Z") == on(1)
    assert found(**{"from": "2026-03-03T20:00:00+08:00"}) == on(3, 4, 5)
    # Facet counts follow the range as well.
    facets = api.search("cityadmin", **{"from": "2026-03-04"}).get_json()["facets"]
    assert [(f["value"], f["count"]) for f in facets["subject"]] == [("biology", 2)]


def test_bad_dates_and_cursors_are_400_naming_the_parameter(api) -> None:
    for params, parameter in [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"from": "2026-03-01T25:00"}, "from"),
        ({"from": "0001-01-01"}, "from"),
        ({"to": "9999-12-31"}, "to"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "x" * 5000}, "cursor"),
        ({"cursor": "e30.abc", "page": "2"}, "cursor"),
    ]:
        resp = api.search(None, **params)
        assert resp.status_code == 400, (params, resp.get_json())
        error = resp.get_json()["error"]
        assert error["details"]["parameter"] == parameter, params
        assert parameter in error["message"], params


def _walk(
    api: Any, who: str | None, **params: Any
) -> tuple[list[int], list[dict[str, Any]]]:
    """Every hit of a search, page after page by next_cursor."""
    ids: list[int] = []
    pages = []
    body = api.search(who, **params).get_json()
    while True:
        pages.append(body)
        ids.extend(h["id"] for h in body["hits"])
        if body["next_cursor"] is None:
            return ids, pages
        body = api.search(who, **params, cursor=body["next_cursor"]).get_json()


@pytest.mark.parametrize("sort", ["relevance", "newest", "popular"])
def test_cursor_pages_through_every_result_once(api, published, sort) -> None:
    # Two resources share each second, so the id decides their order.
    stamps = [datetime(2026, 3, 1, 12, 0, i // 2, tzinfo=UTC) for i in range(5)]
    _restamp(dict(zip(published.values(), stamps, strict=True)))

    ids, pages = _walk(api, "cityadmin", q="叶绿体", sort=sort, per_page=2)
    assert sorted(ids) == sorted(published.values())
    assert [len(p["hits"]) for p in pages] == [2, 2, 1]
    assert pages[0]["page"] == 1 and all(p["page"] is None for p in pages[1:])
    assert all(p["total"] == 5 for p in pages)
    # The cursor goes on where page numbers would have.
    numbered = [
        hit["id"]
        for page in (1, 2, 3)
        for hit in api.search(
            "cityadmin", q="叶绿体", sort=sort, per_page=2, page=page
        ).get_json()["hits"]
    ]
    assert numbered == ids


def test_cursor_sees_only_what_the_asker_may_see(api, published) -> None:
    ids, _ = _walk(api, "teacher2", q="叶绿体", per_page=1)
    assert sorted(ids) == sorted(published[v] for v in EXPECTED["teacher2"])


def test_a_cursor_is_bound_to_its_search(api, published) -> None:
    first = api.search("cityadmin", q="叶绿体", per_page=2).get_json()
    cursor = first["next_cursor"]
    assert cursor

    # Another search, another sort or a changed filter refuses it.
    for params in (
        {"q": "光合作用"},
        {"q": "叶绿体", "sort": "newest"},
        {"q": "叶绿体", "subject": "math"},
        {"q": "叶绿体", "from": "2020-01-01"},
    ):
        resp = api.search("cityadmin", per_page=2, cursor=cursor, **params)
        assert resp.status_code == 400
        assert "another search" in resp.get_json()["error"]["message"]

    # A changed character makes it unknown, never a 500. (Not the last one: a
    # base64 text's last character may carry bits that decoding drops.)
    for i in range(0, len(cursor) - 1, 7):
        garbled = cursor[:i] + ("A" if cursor[i] != "A" else "B") + cursor[i + 1 :]
        resp = api.search("cityadmin", q="叶绿体", per_page=2, cursor=garbled)
        assert resp.status_code == 400, (i, resp.get_json())
        assert resp.get_json()["error"]["details"]["parameter"] == "cursor"

    # The facets asked for do not matter to the order: the cursor still fits.
    resp = api.search("cityadmin", q="叶绿体", per_page=2, cursor=cursor, facets="")
    assert resp.status_code == 200 and len(resp.get_json()["hits"]) == 2


def test_facets_are_multi_select(api, client, world) -> None:
    for title, subject in [
        ("方程 甲", "math"),
        ("方程 乙", "math"),
        ("方程 丙", "chinese"),
    ]:
        rid = api.create("uploader1", title=title, subject=subject)["id"]
        api.upload("uploader1", rid, "a.txt", title.encode())
        api.publish("uploader1", rid, "school")
    body = api.search("teacher1", q="方程", subject="math").get_json()
    assert body["total"] == 2
    # The picked field still offers its other values; other fields count the picks.
    counts = {f["value"]: f["count"] for f in body["facets"]["subject"]}
    assert counts == {"math": 2, "chinese": 1}
    assert body["facets"]["school"] == [{"value": "s1", "label": "城东一中", "count": 2}]


def test_a_cursor_the_engine_refuses_is_400(app, api, published, monkeypatch) -> None:
    from indexer.engines.base import QueryError

    cursor = api.search("cityadmin", q="叶绿体", per_page=2).get_json()["next_cursor"]
    engine = app.extensions["kejian"].engine

    def refuse(query):  # type: ignore[no-untyped-def]
        raise QueryError("relevance cursor deeper than 100000 hits")

    monkeypatch.setattr(engine, "search", refuse)
    resp = api.search("cityadmin", q="叶绿体", per_page=2, cursor=cursor)
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["details"]["parameter"] == "cursor" and "100000" not in error["message"]


def test_filter_values_must_name_something_the_field_holds(api) -> None:
    from repo_app.extensions import db
    from repo_app.models import ChapterNode

    # Organisations of the right kind, chapters, localities and file types: a value
    # that names none of them is a 400 naming it, whatever characters it has.
    for name, value in [
        ("school", "s9"),
        ("school", "d1"),  # a district, not a school
        ("district", "s1"),
        ("owner_org", "nowhere"),
        ("owner_org", "s1\x00"),
        ("chapter", "123456"),
        ("chapter", "abc"),
        ("chapter", "²"),
        ("chapter", "9" * 30),
        ("locality", "moon"),
        ("mime_group", "hologram"),
    ]:
        resp = api.search(None, **{name: value, "subject": "math"})
        assert resp.status_code == 400, (name, value, resp.get_json())
        error = resp.get_json()["error"]
        assert error["details"] == {"field": name, "value": value}
        assert f"Unknown {name} {value!r}" in error["message"]

    # What names something is a filter, even when nothing matches it.
    chapter = ChapterNode(textbook="pep-math-g7-v1", code="1", title="有理数")
    db.session.add(chapter)
    db.session.commit()
    for name, value in [
        ("chapter", str(chapter.id)),
        ("school", "s3"),
        ("district", "d2"),
        ("owner_org", "city"),
        ("locality", "rural"),
        ("mime_group", "other"),
    ]:
        resp = api.search(None, **{name: value})
        assert resp.status_code == 200, (name, value, resp.get_json())
        assert resp.get_json()["total"] == 0


def test_the_words_teachers_use_for_grades_and_editions_find_them(api) -> None:
    # 初二 is what teachers call 八年级 and 部编版 what they call 统编版; the
    # catalogue's "edition-publisher" spelling of 北师大版 must not make 北京 find it.
    made = {}
    for title, fields in [
        ("浮力 课件", {"stage": "junior", "grade": "g8", "subject": "physics"}),
        ("古诗 课件", {"edition": "moe-unified", "subject": "chinese"}),
        ("函数 课件", {"edition": "bnup", "subject": "math"}),
    ]:
        rid = api.create("uploader1", title=title, **fields)["id"]
        api.upload("uploader1", rid, "a.txt", title.encode())
        api.publish("uploader1", rid, "school")
        made[title] = rid

    def found(q: str) -> list[int]:
        return [hit["id"] for hit in api.search("teacher1", q=q).get_json()["hits"]]

    assert found("初二 物理") == [made["浮力 课件"]]
    assert found("部编版") == [made["古诗 课件"]]
    assert found("北师大版") == [made["函数 课件"]]
    assert found("北京") == []


def test_an_edition_starting_in_grade_3_is_no_answer_to_grade_3(api) -> None:
    # 冀教版（三年级起点）: English from grade 3; this is its grade 4 book.
    made = []
    for grade in ("g4", "g3"):
        rid = api.create(
            "uploader1",
            title="Unit 1 课件",
            subject="english",
            grade=grade,
            edition="hebei-edu-g3start",
        )["id"]
        api.upload("uploader1", rid, "a.txt", b"Hello")
        api.publish("uploader1", rid, "school")
        made.append(rid)
    fourth, third = made

    def found(q: str) -> list[int]:
        return [hit["id"] for hit in api.search("teacher1", q=q).get_json()["hits"]]

    assert found("三年级 英语") == [third]
    assert found("四年级 英语") == [fourth]
    # Teachers name the edition either way.
    assert sorted(found("冀教版 三起")) == sorted(made)
    assert sorted(found("冀教版 三年级起点")) == sorted(made)


def test_a_hit_shows_the_resource_as_its_latest_change_left_it(app, api, client, world) -> None:
    rid = api.create("uploader1", title="杠杆原理", subject="physics", stage="junior")["id"]
    api.upload("uploader1", rid, "lever.txt", "杠杆 支点 力臂".encode())
    assert api.publish("cityadmin", rid, "public").status_code == 200
    resp = client.patch(
        f"/api/v1/resources/{rid}",
        json={"title": "杠杆原理 复习", "resource_type": "exercises"},
        headers=world.headers("uploader1"),
    )
    assert resp.status_code == 200, resp.get_json()
    resource = client.get(f"/api/v1/resources/{rid}").get_json()

    (hit,) = api.search(None, q="杠杆").get_json()["hits"]

    assert hit["id"] == rid and hit["title"] == "杠杆原理 复习"
    assert (hit["stage"], hit["subject"], hit["resource_type"]) == (
        "junior",
        "physics",
        "exercises",
    )
    assert hit["owner_org"] == {
        "code": "s1",
        "name": "城东一中",
        "kind": "school",
        "locality": "urban",
    }
    changed = datetime.fromisoformat(resource["updated_at"]).replace(tzinfo=UTC)
    assert datetime.fromisoformat(hit["updated_at"]) == changed.replace(microsecond=0)


def test_a_page_of_results_reads_no_resource_rows(app, api, published) -> None:
    """Hits are shown from the index: a results page costs the database nothing
    per hit, whatever its size."""
    from sqlalchemy import event

    from repo_app.extensions import db

    api.search(None, q="叶绿体")  # organisation names cached
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        body = api.search(None, q="叶绿体").get_json()
        with_token = api.search("cityadmin", q="叶绿体").get_json()
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert body["total"] == 1 and with_token["total"] == 5
    assert not [s for s in statements if "resources" in s.lower()], statements


def test_chapter_facets_are_labelled_with_the_chapters_titles(api) -> None:
    from repo_app.extensions import db
    from repo_app.models import ChapterNode

    chapter = ChapterNode(textbook="pep-math-g7-v1", code="2.1", title="有理数的加法")
    db.session.add(chapter)
    db.session.commit()
    rid = api.create("uploader1", title="有理数加法 课件", chapters=[chapter.id])["id"]
    api.upload("uploader1", rid, "a.txt", "有理数的加法法则".encode())
    assert api.publish("cityadmin", rid, "public").status_code == 200

    facet = api.search(None, q="有理数").get_json()["facets"]["chapter"]

    assert facet == [{"value": str(chapter.id), "label": "有理数的加法", "count": 1}]
