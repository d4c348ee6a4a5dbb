"""Suggestions as the user types: ``GET /api/v1/suggest``."""

from __future__ import annotations

import pytest


@pytest.fixture
def titles(api, world):  # type: ignore[no-untyped-def]
    """数学 titles of school s1 at two visibilities, and one 语文 title."""
    made = {}
    for title, visibility in [
        ("数学 一元二次方程", "school"),
        ("数学 勾股定理", "public"),
        ("语文 春晓", "public"),
    ]:
        rid = api.create("uploader1", title=title)["id"]
        api.upload("uploader1", rid, "a.txt", title.encode())
        # The city admin publishes without a review at any visibility.
        resp = api.publish("cityadmin", rid, visibility)
        assert resp.get_json()["status"] == "published"
        made[title] = visibility
    # A draft is only its uploader's.
    api.create("uploader1", title="数学 草稿")
    return made


def suggest(client, world, who: str | None, **params):  # type: ignore[no-untyped-def]
    return client.get(
        "/api/v1/suggest", query_string=params, headers=world.headers(who)
    )


def test_pinyin_initials_suggest_visible_titles_only(client, world, titles) -> None:
    for who, expected in [
        (None, {"数学 勾股定理"}),
        ("teacher1", {"数学 勾股定理", "数学 一元二次方程"}),
        ("teacher3", {"数学 勾股定理"}),
        ("uploader1", {"数学 勾股定理", "数学 一元二次方程", "数学 草稿"}),
    ]:
        for typed in ("sx", "shux", "数学", "数"):
            resp = suggest(client, world, who, q=typed)
            assert resp.status_code == 200, resp.get_json()
            assert set(resp.get_json()["suggestions"]) == expected, (who, typed)


def test_limit_and_no_match(client, world, titles) -> None:
    body = suggest(client, world, "uploader1", q="sx", limit=2).get_json()
    assert len(body["suggestions"]) == 2
    assert suggest(client, world, "uploader1", q="物理").get_json() == {
        "suggestions": []
    }


def test_bad_input_is_400_naming_the_parameter(client, world) -> None:
    for params, parameter in [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "数" * 101}, "q"),
        ({"q": "sx\x00"}, "q"),
        ({"q": "\x1b[31m"}, "q"),
        ({"q": "sx", "limit": "0"}, "limit"),
        ({"q": "sx", "limit": "21"}, "limit"),
        ({"q": "sx", "limit": "ten"}, "limit"),
    ]:
        resp = suggest(client, world, None, **params)
        assert resp.status_code == 400, params
        error = resp.get_json()["error"]
        assert error["details"]["parameter"] == parameter, params
        assert parameter in error["message"], params


def test_odd_but_valid_input_answers_200(client, world, titles) -> None:
    for q in ['"', "title:(", "*", "😀", "a" * 100, "<b>", "sx sx"]:
        resp = suggest(client, world, "teacher1", q=q)
        assert resp.status_code == 200, (q, resp.get_json())
        assert isinstance(resp.get_json()["suggestions"], list)


def test_engine_down_is_503_without_its_words(app, client, world, monkeypatch) -> None:
    from indexer.engines.base import SearchUnavailable

    def down(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise SearchUnavailable("connection refused to 10.0.0.1:9200")

    monkeypatch.setattr(app.extensions["kejian"].engine, "suggest", down)
    resp = suggest(client, world, "teacher1", q="sx")
    assert resp.status_code == 503
    error = resp.get_json()["error"]
    assert error["code"] == "search_unavailable" and "10.0.0.1" not in error["message"]
