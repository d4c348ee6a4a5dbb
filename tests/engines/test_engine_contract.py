"""The behaviour every search engine promises, run against each ``engine`` backend."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from indexer import analysis
from indexer.engines.base import (
    ACL_ALL,
    FACET_FIELDS,
    MAX_RESULT_WINDOW,
    Hit,
    QueryError,
    SearchEngine,
    SearchEngineError,
    SearchQuery,
    SearchResult,
)

MakeDoc = Callable[..., dict[str, Any]]

EVERYONE = ["public", "org:s1", "org:s2", "user:7"]
T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


def found(engine: SearchEngine, text: str = "", **options: object) -> list[str]:
    """Ids of a search's hits, in order."""
    options.setdefault("acl", EVERYONE)
    options.setdefault("limit", 100)
    result = engine.search(SearchQuery(text=text, **options))  # type: ignore[arg-type]
    return [hit.id for hit in result.hits]


# ------------------------------------------------------------------- matching


def test_finds_chinese_and_english_words(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("zh", title="一元二次方程", text="求根公式与判别式"),
            make_doc("en", title="Quadratic Equations", text="The quadratic formula."),
            make_doc("other", title="古诗词鉴赏", text="春眠不觉晓"),
        ]
    )

    assert found(engine, "判别式") == ["zh"]
    assert found(engine, "二次方程") == ["zh"]
    assert found(engine, "equation") == ["en"]
    assert found(engine, "QUADRATIC formula") == ["en"]
    assert found(engine, "ＱＵＡＤＲＡＴＩＣ") == ["en"]  # full-width letters fold


def test_two_character_word_is_found_wherever_it_appears(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    # 方程 appears only once per document, at the start, middle or end of a long
    # run of characters, and in each text field in turn.
    contexts = ["方程的解法", "解一元二次方程组的步骤", "列方程", "方程", "这是方程。"]
    fields = ["text", "title", "description", "keywords", "labels"]
    expected = set()
    docs = []
    for i in range(30):
        field = fields[i % len(fields)]
        value = contexts[i % len(contexts)]
        docs.append(
            make_doc(
                f"hit-{i}",
                **{field: [value] if field in ("keywords", "labels") else value},
            )
        )
        expected.add(f"hit-{i}")
    docs += [make_doc(f"miss-{i}", text="方向程度，方 程") for i in range(10)]
    engine.index(docs)

    result = engine.search(SearchQuery(text="方程", acl=["public"], limit=100))

    assert result.total == 30
    assert {hit.id for hit in result.hits} == expected


def test_longer_chinese_word_needs_all_its_characters_in_order(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("whole", text="二次函数的图像"),
            make_doc("scattered", text="二次方程与函数图像"),  # 二次 and 函数, no 次函
        ]
    )

    assert found(engine, "二次函数") == ["whole"]


def test_every_word_must_match_when_some_document_has_all(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("both", title="Photosynthesis lab worksheet"),
            make_doc("one", title="Photosynthesis reading"),
            make_doc("none", title="Cell division"),
        ]
    )

    assert found(engine, "photosynthesis worksheet") == ["both"]


def test_falls_back_to_any_word_when_no_document_has_all(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("both", title="光合作用 实验"),
            make_doc("one", title="光合作用 阅读"),
            make_doc("none", title="细胞分裂"),
        ]
    )

    # No document has both words, so either counts.
    assert sorted(found(engine, "实验 阅读")) == ["both", "one"]
    # "photosinthesis" is misspelt: of three words, two are enough.
    assert found(engine, "光合作用 实验 photosinthesis") == ["both"]


def test_of_three_words_or_more_all_but_one_are_enough(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("exercises", title="Present perfect vs past simple: exercises"),
            make_doc("slides", title="The present perfect tense"),
            make_doc("other-tense", title="The past simple tense"),
            make_doc("unrelated", title="Perfect squares"),
        ]
    )

    # Every word first, then those missing one; missing two is not enough.
    assert found(engine, "present perfect tense") == ["slides", "exercises"]
    # Two words are both required.
    assert found(engine, "perfect tense") == ["slides"]


def test_title_matches_rank_above_body_matches(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc(
                "body", title="课堂练习", text="勾股定理的证明方法很多，本课介绍三种。"
            ),
            make_doc("title", title="勾股定理", text="直角三角形三边的关系"),
            make_doc("description", title="几何", description="勾股定理的应用"),
        ]
    )

    assert found(engine, "勾股定理") == ["title", "description", "body"]
    assert found(engine, "勾股") == ["title", "description", "body"]


def test_synonyms_widen_a_query(engine: SearchEngine, make_doc: MakeDoc) -> None:
    engine.index(
        [
            make_doc("ppt", title="PPT 分数的加法"),
            make_doc("slides", title="分数的加法 幻灯片"),
            make_doc("plan", title="分数的加法 教学设计"),
        ]
    )

    assert sorted(found(engine, "课件")) == ["ppt", "slides"]
    assert found(engine, "教案") == ["plan"]
    assert sorted(found(engine, "ppt")) == ["ppt", "slides"]


def test_a_word_naming_a_kind_of_material_ranks_it_first_and_keeps_the_rest(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("ppt", title="PPT 分数的加法"),
            make_doc("slides", title="分数的加法 幻灯片"),
            make_doc("plan", title="分数的加法 教学设计"),
            make_doc("other-topic", title="小数的乘法 课件"),
        ]
    )

    # Slides on fractions first, then the other material on fractions; slides on
    # another topic are not what was asked for.
    ranked = found(engine, "分数 课件")
    assert sorted(ranked[:2]) == ["ppt", "slides"] and ranked[2:] == ["plan"]
    ranked = found(engine, "分数的加法 PPT")
    assert sorted(ranked[:2]) == ["ppt", "slides"] and ranked[2:] == ["plan"]
    # Alone, a kind has to match.
    assert sorted(found(engine, "课件")) == ["other-topic", "ppt", "slides"]


def test_material_of_the_kind_asked_for_comes_before_better_text_matches(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    filler = " ".join(f"word{i}" for i in range(300))
    engine.index(
        [
            make_doc("slides", title="第三单元 课件", text=f"{filler} 分数 {filler}"),
            make_doc("strong", title="分数", description="分数", text="分数"),
            make_doc("plan", title="分数 分数 教案", text="分数"),
        ]
    )

    ranked = found(engine, "分数 课件")
    assert ranked[0] == "slides" and sorted(ranked[1:]) == ["plan", "strong"]


def test_pinyin_of_a_title_in_its_labels_finds_it(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    # As indexer.documents puts it there.
    engine.index(
        [
            make_doc(doc_id, title=title, labels=analysis.pinyin_words(title))
            for doc_id, title in [
                ("gougu", "勾股定理 课件"),
                ("gongshi", "数学公式 汇编"),
                ("wuli", "物理公式"),
            ]
        ]
    )

    assert found(engine, "gougudingli") == ["gougu"]
    assert found(engine, "sx gongshi") == ["gongshi"]
    assert sorted(found(engine, "gongshi")) == ["gongshi", "wuli"]


def test_a_title_typed_with_homophones_is_found(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("gougu", title="勾股定理 课件"),
            make_doc("gushu", title="勾股数 练习"),
            make_doc("fangcheng", title="一元一次方程 教案"),
            make_doc("ohm", title="欧姆定律"),
        ]
    )

    # 理 typed as 里, 程 as 成: the characters differ, their pinyin does not.
    assert found(engine, "勾股定里") == ["gougu"]
    assert found(engine, "一元一次方成") == ["fangcheng"]
    assert found(engine, "欧母定律") == ["ohm"]


def test_an_english_word_with_one_typo_is_found(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("theorem", title="The Pythagorean theorem"),
            make_doc("grammar", title="Grammar: the present perfect"),
            make_doc("cells", title="Plant cells", keywords=["photosynthesis"]),
            make_doc("other", title="Ancient poetry"),
        ]
    )

    assert found(engine, "pythagorean theorm") == ["theorem"]
    assert found(engine, "grammer") == ["grammar"]
    assert found(engine, "photosythesis") == ["cells"]
    # Words of three letters are taken as typed: "cel" is not a misspelt "cell".
    assert found(engine, "cel") == []


def test_an_exact_match_ranks_above_a_near_one(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("a-near", title="勾股定里 练习"),
            make_doc("b-exact", title="勾股定理 练习"),
            make_doc("c-near", title="Plane geometry"),
            make_doc("d-exact", title="Plant geometry"),
        ]
    )

    # The ids would put the near matches first if scores were equal.
    assert found(engine, "勾股定理") == ["b-exact", "a-near"]
    assert found(engine, "plant") == ["d-exact", "c-near"]


def test_near_matches_reveal_nothing_hidden(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("hidden-zh", title="勾股定理", acl=["org:s9"]),
            make_doc("hidden-en", title="Pythagorean theorem", acl=["org:s9"]),
            make_doc("seen", title="勾股定理 课件", acl=["org:s1"]),
        ]
    )

    for text in ("勾股定里", "theorm"):
        result = engine.search(
            SearchQuery(text=text, acl=["public", "org:s1"], facets=["subject"])
        )
        assert "hidden" not in " ".join(hit.id for hit in result.hits)
        assert result.total == sum(count for _, count in result.facets["subject"])
    assert found(engine, "勾股定里", acl=["public", "org:s1"]) == ["seen"]
    assert found(engine, "theorm", acl=["public", "org:s1"]) == []
    assert sorted(found(engine, "勾股定里", acl=["org:s9"])) == ["hidden-zh"]
    assert found(engine, "theorm", acl=["org:s9"]) == ["hidden-en"]


def test_english_subject_names_find_chinese_ones(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [make_doc("m", title="初中数学 期末复习"), make_doc("p", title="物理 实验")]
    )

    assert found(engine, "mathematics") == ["m"]
    assert found(engine, "Physics") == ["p"]


def test_lone_character_matches_words_it_begins(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index([make_doc("a", title="数学"), make_doc("b", title="语文")])

    assert found(engine, "数") == ["a"]


def test_query_without_words_lists_every_visible_document(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index([make_doc("a"), make_doc("b", acl=["org:s9"])])

    assert found(engine, "") == ["a"]
    assert found(engine, "   ") == ["a"]


# --------------------------------------------------------------------- access


def test_documents_are_only_found_by_who_may_see_them(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("public", title="光的折射"),
            make_doc("school", title="光的折射 校内", acl=["org:s1"]),
            make_doc("draft", title="光的折射 草稿", acl=["user:7", "manage:s1"]),
        ]
    )

    assert sorted(found(engine, "折射", acl=["public"])) == ["public"]
    assert sorted(found(engine, "折射", acl=["public", "org:s1"])) == [
        "public",
        "school",
    ]
    assert sorted(found(engine, "折射", acl=["manage:s1"])) == ["draft"]
    assert found(engine, "折射", acl=[]) == []
    assert engine.search(SearchQuery(text="", acl=[], facets=["subject"])).total == 0


def test_the_system_token_sees_every_document(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("public", title="光的折射"),
            make_doc("draft", title="光的折射 草稿", acl=["user:7"]),
            make_doc("orphan", title="光的折射 无主", acl=[]),
        ]
    )

    assert sorted(found(engine, "折射", acl=[ACL_ALL])) == ["draft", "orphan", "public"]
    assert len(engine.suggest("gdzs", [ACL_ALL])) == 3


# --------------------------------------------------------- facets and filters


def test_facet_counts_cover_every_visible_match(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    docs = [
        make_doc(f"m{i}", title="复习", subject="math", chapter=["c1", "c2"])
        for i in range(25)
    ]
    docs += [
        make_doc(f"p{i}", title="复习", subject="physics", chapter=["c2"])
        for i in range(7)
    ]
    # Hidden from the asker: must change no count.
    docs += [
        make_doc(
            f"h{i}", title="复习", subject="chemistry", chapter=["c1"], acl=["org:s9"]
        )
        for i in range(5)
    ]
    docs += [make_doc("other", title="预习", subject="biology")]
    engine.index(docs)

    result = engine.search(
        SearchQuery(
            text="复习", facets=["subject", "chapter", "grade"], limit=5, acl=["public"]
        )
    )

    assert result.total == 32
    assert len(result.hits) == 5
    assert result.facets["subject"] == [("math", 25), ("physics", 7)]
    assert result.facets["chapter"] == [("c2", 32), ("c1", 25)]
    assert result.facets["grade"] == [("g7", 32)]


def test_facets_of_an_empty_result_are_empty(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index([make_doc(title="复习")])

    result = engine.search(SearchQuery(text="没有这个词", facets=["subject"]))

    assert result.total == 0
    assert result.facets == {"subject": []}


def test_filters_or_within_a_field_and_across_fields(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("m7", subject="math", grade="g7"),
            make_doc("m8", subject="math", grade="g8"),
            make_doc("p7", subject="physics", grade="g7"),
            make_doc("c7", subject="chemistry", grade="g7"),
            make_doc("multi", subject="math", grade="g9", chapter=["c1", "c2"]),
        ]
    )

    either = {"subject": ["math", "physics"]}
    assert sorted(found(engine, filters=either)) == ["m7", "m8", "multi", "p7"]
    both = {"subject": ["math", "physics"], "grade": ["g7"]}
    assert sorted(found(engine, filters=both)) == ["m7", "p7"]
    assert found(engine, filters={"chapter": ["c2"]}) == ["multi"]
    assert found(engine, filters={"subject": ["history"]}) == []


def test_filters_hold_when_fewer_words_are_enough_and_in_the_fallback(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("every", title="present perfect tense", subject="english"),
            make_doc(
                "two-english",
                title="present perfect exercises",
                subject="english",
                resource_type="exercises",
            ),
            make_doc("two-math", title="perfect squares tense", subject="math"),
            make_doc("one-biology", title="光合作用 实验", subject="biology"),
            make_doc("other-math", title="光合作用 阅读", subject="math"),
        ]
    )

    # All but one of three words: the filter still holds, every word still first.
    assert found(engine, "present perfect tense", filters={"subject": ["english"]}) == [
        "every",
        "two-english",
    ]
    assert found(engine, "present perfect tense", filters={"subject": ["math"]}) == [
        "two-math"
    ]
    assert found(
        engine, "present perfect tense", filters={"resource_type": ["exercises"]}
    ) == ["two-english"]
    # No document has both words: the fallback to any word is filtered too.
    assert found(engine, "实验 阅读", filters={"subject": ["math"]}) == ["other-math"]
    assert found(engine, "实验 阅读", filters={"subject": ["history"]}) == []
    assert found(
        engine, "present perfect tense", filters={"subject": ["math"]}, sort="newest"
    ) == ["two-math"]


def test_a_kind_word_beside_a_topic_keeps_a_filter_on_another_kind(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("slides", title="浮力 课件", resource_type="courseware"),
            make_doc("plan", title="浮力 教学设计", resource_type="lesson-plan"),
            make_doc("other", title="压强 教学设计", resource_type="lesson-plan"),
        ]
    )

    # 课件 ranks slides first but is not required: a teacher filtering lesson plans
    # still gets the lesson plan on buoyancy, and only that.
    assert found(engine, "浮力 课件", filters={"resource_type": ["lesson-plan"]}) == [
        "plan"
    ]
    assert found(engine, "浮力 课件") == ["slides", "plan"]
    courseware = {"resource_type": ["courseware"]}
    assert found(engine, "浮力 课件", sort="newest", filters=courseware) == ["slides"]


@pytest.mark.parametrize("field", ["colour", "title", "acl"])
def test_unknown_facet_or_filter_field_is_a_query_error(
    engine: SearchEngine, field: str
) -> None:
    with pytest.raises(QueryError, match=field):
        engine.search(SearchQuery(facets=[field]))
    with pytest.raises(QueryError, match=field):
        engine.search(SearchQuery(filters={field: ["x"]}))


def test_every_facet_field_can_be_counted(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index([make_doc("a")])

    result = engine.search(SearchQuery(facets=list(FACET_FIELDS)))

    assert set(result.facets) == set(FACET_FIELDS)
    assert result.facets["mime_group"] == [("presentation", 1)]


def test_every_facet_field_counts_and_filters_its_values(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    # Two documents with one value of every facet field, one with another.
    def valued(doc_id: str, value: str) -> dict[str, Any]:
        return make_doc(doc_id, **{name: f"{name}-{value}" for name in FACET_FIELDS})

    engine.index([valued("x1", "x"), valued("x2", "x"), valued("y1", "y")])

    result = engine.search(SearchQuery(facets=list(FACET_FIELDS), acl=EVERYONE))
    for name in FACET_FIELDS:
        assert result.facets[name] == [(f"{name}-x", 2), (f"{name}-y", 1)], name
        assert found(engine, filters={name: [f"{name}-y"]}) == ["y1"], name


#: The synonym groups of indexer/synonyms.json.
SYNONYM_GROUPS: list[list[str]] = json.loads(
    (Path(analysis.__file__).with_name("synonyms.json")).read_text(encoding="utf-8")
)["groups"]


def test_every_synonym_of_the_list_finds_its_whole_group(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    # A title of each term of each group; each term finds every title of its group.
    docs = [
        make_doc(f"g{group}-{number}", title=term)
        for group, terms in enumerate(SYNONYM_GROUPS)
        for number, term in enumerate(terms)
    ]
    engine.index(docs)

    for group, terms in enumerate(SYNONYM_GROUPS):
        titles = {f"g{group}-{number}" for number in range(len(terms))}
        for term in terms:
            assert titles <= set(found(engine, term)), (term, terms)


# ------------------------------------------------------- sorting and paging


def test_sort_by_newest_and_by_downloads(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    engine.index(
        [
            make_doc(
                "old",
                title="作文",
                updated_at=dt.datetime(2023, 5, 1, tzinfo=dt.UTC),
                downloads=90,
            ),
            # 08:00 in Beijing is midnight UTC: older than "mid" below.
            make_doc(
                "east",
                title="作文",
                updated_at=dt.datetime(2024, 3, 1, 8, tzinfo=beijing),
                downloads=5,
            ),
            make_doc(
                "mid",
                title="作文",
                updated_at=dt.datetime(2024, 3, 1, 1, tzinfo=dt.UTC),
                downloads=40,
            ),
            make_doc(
                "undated", title="作文", updated_at=None, created_at=None, downloads=0
            ),
        ]
    )

    assert found(engine, "作文", sort="newest") == ["mid", "east", "old", "undated"]
    assert found(engine, "作文", sort="popular") == ["old", "mid", "east", "undated"]
    assert found(engine, "", sort="relevance") == ["mid", "east", "old", "undated"]


def test_unknown_sort_is_a_query_error(engine: SearchEngine) -> None:
    with pytest.raises(QueryError, match="sort"):
        engine.search(SearchQuery(sort="random"))


def test_pages_cover_the_results_once(engine: SearchEngine, make_doc: MakeDoc) -> None:
    engine.index(
        [make_doc(f"d{i:02}", title="单元测试", downloads=i) for i in range(23)]
    )

    pages = []
    for offset in range(0, 30, 10):
        result = engine.search(
            SearchQuery(text="单元", sort="popular", offset=offset, limit=10)
        )
        assert result.total == 23
        pages.append([hit.id for hit in result.hits])

    assert [len(page) for page in pages] == [10, 10, 3]
    assert [doc for page in pages for doc in page] == [
        f"d{i:02}" for i in range(22, -1, -1)
    ]


def test_limit_zero_returns_only_total_and_facets(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index([make_doc(title="单元测试") for _ in range(3)])

    result = engine.search(SearchQuery(text="单元", limit=0, facets=["subject"]))

    assert (result.total, result.hits, result.facets) == (
        3,
        [],
        {"subject": [("math", 3)]},
    )


@pytest.mark.parametrize(
    ("offset", "limit"), [(9_990, 11), (10_000, 1), (-1, 10), (0, -5)]
)
def test_paging_out_of_range_is_a_query_error(
    engine: SearchEngine, offset: int, limit: int
) -> None:
    with pytest.raises(QueryError):
        engine.search(SearchQuery(offset=offset, limit=limit))


def test_deepest_allowed_page_runs(engine: SearchEngine) -> None:
    assert engine.search(SearchQuery(offset=9_990, limit=10)).hits == []


# ----------------------------------------------------------------- shown fields


@pytest.mark.parametrize("words", ["浮力", ""], ids=["words", "browsing"])
@pytest.mark.parametrize("highlight", [True, False], ids=["highlighted", "plain"])
def test_hits_carry_what_a_results_page_shows(
    engine: SearchEngine, make_doc: MakeDoc, words: str, highlight: bool
) -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    engine.index(
        [
            make_doc(
                "a",
                title="<b>浮力</b> 的计算",
                stage="senior",
                subject="physics",
                resource_type="courseware",
                owner_org="s2",
                updated_at=dt.datetime(2024, 3, 1, 8, 30, 15, 654321, tzinfo=beijing),
            ),
            make_doc("b", title="浮力 实验", stage=None, subject=None, updated_at=None),
        ]
    )

    hits = engine.search(
        SearchQuery(text=words, sort="popular", highlight=highlight)
    ).hits

    shown = {hit.id: hit.shown for hit in hits}
    assert shown["a"] == {
        "title": "<b>浮力</b> 的计算",
        "stage": "senior",
        "subject": "physics",
        "resource_type": "courseware",
        "owner_org": "s2",
        # In UTC, to the second: what both engines keep alike.
        "updated_at": dt.datetime(2024, 3, 1, 0, 30, 15, tzinfo=dt.UTC),
    }
    assert shown["b"]["title"] == "浮力 实验"
    assert shown["b"]["stage"] is None and shown["b"]["subject"] is None
    assert shown["b"]["updated_at"] is None


# ----------------------------------------------------------------- highlights


def test_highlights_wrap_matches_and_escape_the_rest(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    text = (
        "前言。" * 200 + "本节讲解<b>浮力</b>的计算 & 阿基米德原理。" + "后记。" * 200
    )
    engine.index(
        [
            make_doc(
                "a",
                title="<script>alert('浮力')</script> 浮力",
                description="Buoyancy & 浮力",
                text=text,
            )
        ]
    )

    hit = engine.search(SearchQuery(text="浮力")).hits[0]

    assert hit.highlights["title"] == (
        "&lt;script&gt;alert(&#x27;<em>浮力</em>&#x27;)&lt;/script&gt; <em>浮力</em>"
    )
    assert hit.highlights["description"] == "Buoyancy &amp; <em>浮力</em>"
    snippet = hit.highlights["text"]
    assert "&lt;b&gt;<em>浮力</em>&lt;/b&gt;" in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) < 300


def test_highlights_mark_synonyms_and_plurals(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index([make_doc("a", title="PPT: Fractions lessons")])

    hit = engine.search(SearchQuery(text="课件 lesson")).hits[0]

    assert hit.highlights["title"] == "<em>PPT</em>: Fractions <em>lessons</em>"


def test_highlights_can_be_turned_off(engine: SearchEngine, make_doc: MakeDoc) -> None:
    engine.index([make_doc("a", title="浮力")])

    assert (
        engine.search(SearchQuery(text="浮力", highlight=False)).hits[0].highlights
        == {}
    )


# ---------------------------------------------------------------- suggestions


def test_suggests_titles_by_text_and_pinyin(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("a", title="数学思维训练", downloads=10),
            make_doc("b", title="初中数学 期末", downloads=50),
            make_doc("c", title="Shakespeare sonnets", downloads=20),
            make_doc("d", title="数学竞赛 校内", acl=["org:s9"], downloads=99),
            make_doc("e", title="语文阅读", downloads=5),
        ]
    )

    # Titles starting with the prefix first, then containing it; more downloads first.
    assert engine.suggest("sx", ["public"]) == ["数学思维训练", "初中数学 期末"]
    assert engine.suggest("数学", ["public"]) == ["数学思维训练", "初中数学 期末"]
    assert engine.suggest("shuxue", ["public"]) == ["数学思维训练", "初中数学 期末"]
    assert engine.suggest("SHA", ["public"]) == ["Shakespeare sonnets"]
    assert engine.suggest("czsx", ["public"]) == ["初中数学 期末"]
    assert engine.suggest("sx", ["public", "org:s9"])[0] == "数学竞赛 校内"
    assert engine.suggest("sx", ["public"], limit=1) == ["数学思维训练"]
    assert engine.suggest("sx", []) == []
    assert engine.suggest("", ["public"]) == []
    assert engine.suggest("  .*(", ["public"]) == []


# ------------------------------------------------------------ writes and ids


def test_delete_removes_documents_and_ignores_unknown_ids(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index([make_doc("a", title="浮力"), make_doc("b", title="浮力")])

    engine.delete(["a", "missing"])

    assert found(engine, "浮力") == ["b"]
    assert engine.ids() == {"b"}


def test_indexing_an_id_again_replaces_the_document(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index([make_doc("a", title="旧标题")])
    engine.index([make_doc("a", title="新标题")])
    written = engine.index([make_doc("b", title="一"), make_doc("b", title="二")])

    assert written == 1
    assert found(engine, "标题") == ["a"]
    assert found(engine, "旧标题") == []
    assert found(engine, "二") == ["b"]
    assert engine.search(SearchQuery()).total == 2


def test_clear_and_ids(engine: SearchEngine, make_doc: MakeDoc) -> None:
    assert engine.ids() == set()
    engine.index([make_doc(str(i)) for i in range(5)])
    assert engine.ids() == {"0", "1", "2", "3", "4"}

    engine.clear()

    assert engine.ids() == set()
    assert engine.search(SearchQuery()).total == 0
    engine.index([make_doc("again")])
    assert engine.ids() == {"again"}


# -------------------------------------------------------------------- rebuild


def test_a_rebuild_shows_nothing_until_it_commits(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index([make_doc("old", title="旧课件")])

    with engine.rebuild() as rebuild:
        assert rebuild.index([make_doc("new", title="新课件")]) == 1
        # Searches keep reading the live index while the new one fills.
        assert found(engine, "课件") == ["old"]
        rebuild.commit()

    assert found(engine, "课件") == ["new"]
    assert engine.ids() == {"new"}


def test_a_failed_rebuild_leaves_the_live_index_as_it_was(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index([make_doc("old", title="旧课件")])

    with pytest.raises(RuntimeError, match="database went away"):
        with engine.rebuild() as rebuild:
            rebuild.index([make_doc("new", title="新课件")])
            raise RuntimeError("database went away")

    assert found(engine, "课件") == ["old"]
    # The next rebuild starts from nothing: the aborted documents are gone.
    with engine.rebuild() as rebuild:
        rebuild.commit()
    assert engine.ids() == set()


def test_a_rebuild_left_without_commit_is_aborted(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index([make_doc("old")])

    with engine.rebuild() as rebuild:
        rebuild.index([make_doc("new")])

    assert engine.ids() == {"old"}
    with pytest.raises(SearchEngineError):
        rebuild.commit()


def test_writes_during_a_rebuild_go_to_the_live_index(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index([make_doc("old")])

    with engine.rebuild() as rebuild:
        rebuild.index([make_doc("rebuilt")])
        engine.index([make_doc("meanwhile")])
        engine.delete(["old"])
        assert engine.ids() == {"meanwhile"}
        rebuild.commit()

    # The new index holds what it was given; catching up is the caller's job.
    assert engine.ids() == {"rebuilt"}


def test_a_bad_document_in_a_rebuild_writes_nothing_of_its_call(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    with engine.rebuild() as rebuild:
        rebuild.index([make_doc("a")])
        with pytest.raises(ValueError):
            rebuild.index([make_doc("b"), {"title": "no id"}])
        rebuild.index([make_doc("c")])
        rebuild.commit()

    assert engine.ids() == {"a", "c"}


def test_a_finished_rebuild_refuses_more_work(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    rebuild = engine.rebuild()
    rebuild.index([make_doc("a")])
    rebuild.commit()

    rebuild.abort()  # after a commit: nothing to undo
    with pytest.raises(SearchEngineError):
        rebuild.index([make_doc("b")])
    with pytest.raises(SearchEngineError):
        rebuild.commit()
    assert engine.ids() == {"a"}


def test_indexing_nothing_writes_nothing(engine: SearchEngine) -> None:
    assert engine.index([]) == 0
    engine.delete([])


def test_a_document_without_id_is_refused(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    doc = make_doc()
    del doc["id"]

    with pytest.raises(ValueError, match="id"):
        engine.index([doc])


def test_documents_with_missing_and_odd_values_are_indexed(
    engine: SearchEngine,
) -> None:
    engine.index(
        [
            {"id": "bare", "acl": ["public"]},
            {
                "id": "odd",
                "title": "控制\x00字符\x07 \ud800 😀 ①",
                "keywords": None,
                "subject": None,
                "chapter": ["", None],
                "acl": "public",
                "downloads": "12",
                "updated_at": "2024-05-01T10:00:00+08:00",
            },
        ]
    )

    assert found(engine, "字符") == ["odd"]
    assert found(engine, "1") == ["odd"]
    assert engine.ids() == {"bare", "odd"}


# ----------------------------------------------------------------- robustness


BAD_QUERIES = [
    '"unbalanced',
    "title:foo AND (",
    "a OR b NOT c^2 ~3 *",
    "field:[1 TO",
    "\\",
    "/regex.*/",
    "\x00\x01\x1f\x7f",
    "😀🎉 数学 👩‍🏫",
    "\ud800 lone surrogate",
    "数" * 10_000,
    "word " * 2_000,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "\u200b\u200e\ufeff",
    "ｆｕｌｌ　ｗｉｄｔｈ",
]


@pytest.mark.parametrize("text", BAD_QUERIES, ids=range(len(BAD_QUERIES)))
def test_any_query_text_runs(
    engine: SearchEngine, make_doc: MakeDoc, text: str
) -> None:
    engine.index([make_doc("a", title="数学 word title foo")])

    result = engine.search(SearchQuery(text=text, facets=["subject"]))

    assert result.total >= 0
    engine.suggest(text, ["public"])


# ------------------------------------------------------- multi-select facets


def _subject_grade_docs(make_doc: MakeDoc) -> list[dict[str, Any]]:
    """Math 7 ×3, math 8 ×2, physics 7 ×4, chemistry 8 ×1, all public; physics 8
    ×6 only the asker's school may see; one math 7 that misses the words."""
    docs = [
        make_doc(f"m7-{i}", title="复习", subject="math", grade="g7", resource_type=t)
        for i, t in enumerate(["slides", "slides", "exam"])
    ]
    docs += [
        make_doc(f"m8-{i}", title="复习", subject="math", grade="g8") for i in range(2)
    ]
    docs += [
        make_doc(f"p7-{i}", title="复习", subject="physics", grade="g7")
        for i in range(4)
    ]
    docs += [make_doc("c8", title="复习", subject="chemistry", grade="g8")]
    docs += [
        make_doc(
            f"hidden-{i}", title="复习", subject="physics", grade="g8", acl=["org:s9"]
        )
        for i in range(6)
    ]
    docs += [make_doc("elsewhere", title="预习", subject="math", grade="g7")]
    return docs


def _counted(
    engine: SearchEngine, make_doc: MakeDoc, filters: dict[str, list[str]]
) -> SearchResult:
    """复习 among :func:`_subject_grade_docs`, searched by the public with
    *filters*, subject, grade and resource type counted."""
    engine.index(_subject_grade_docs(make_doc))
    facets = ["subject", "grade", "resource_type"]
    return engine.search(
        SearchQuery(text="复习", filters=filters, facets=facets, acl=["public"])
    )


def test_a_filtered_facet_counts_its_other_values(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    result = _counted(engine, make_doc, {"subject": ["math"]})

    # Hits and total honour the filter; the subject counts leave it out, so that
    # physics and chemistry can be added to the choice; grade counts keep it.
    assert result.total == 5
    assert {hit.id for hit in result.hits} == {f"m7-{i}" for i in range(3)} | {
        "m8-0",
        "m8-1",
    }
    assert result.facets["subject"] == [("math", 5), ("physics", 4), ("chemistry", 1)]
    assert result.facets["grade"] == [("g7", 3), ("g8", 2)]
    assert result.facets["resource_type"] == [("slides", 4), ("exam", 1)]


def test_filters_on_two_fields_each_count_with_the_other_only(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    result = _counted(engine, make_doc, {"subject": ["math"], "grade": ["g7"]})

    assert result.total == 3
    assert {hit.id for hit in result.hits} == {"m7-0", "m7-1", "m7-2"}
    # Subjects among grade 7 (the hidden physics 8 and the unmatched text never
    # count); grades among math; resource types under both filters.
    assert result.facets["subject"] == [("physics", 4), ("math", 3)]
    assert result.facets["grade"] == [("g7", 3), ("g8", 2)]
    assert result.facets["resource_type"] == [("slides", 2), ("exam", 1)]


def test_a_filter_that_empties_the_results_still_counts_its_field(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    result = _counted(engine, make_doc, {"subject": ["history"]})

    assert (result.total, result.hits) == (0, [])
    assert result.facets["subject"] == [("math", 5), ("physics", 4), ("chemistry", 1)]
    assert result.facets["grade"] == []
    assert result.facets["resource_type"] == []


def test_multi_valued_facet_counts_without_its_filter_by_count_then_value(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("a", chapter=["c1", "c2"]),
            make_doc("b", chapter=["c2"]),
            make_doc("c", chapter=["c3"]),
            make_doc("d", chapter=["c0", "c2"], subject="physics"),
        ]
    )

    result = engine.search(
        SearchQuery(
            filters={"chapter": ["c1", "c3"], "subject": ["math"]},
            facets=["chapter", "subject"],
        )
    )

    assert sorted(hit.id for hit in result.hits) == ["a", "c"]
    # Equal counts come in the order of their values.
    assert result.facets["chapter"] == [("c2", 2), ("c1", 1), ("c3", 1)]
    assert result.facets["subject"] == [("math", 2)]


ODD_VALUES = [
    'a "quoted" Value',
    "back\\slash\\",
    "x:y OR z",
    "(a) AND -b*",
    "数学 ~2",
    " ",
]


def test_facet_values_with_any_characters_filter_and_count_exactly(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    docs = [
        make_doc(f"{i}-{j}", subject=value, grade=grade)
        for i, value in enumerate(ODD_VALUES)
        for j, grade in enumerate(["g7", "g7", "g8"][: i % 3 + 1])
    ]
    engine.index(docs)
    picked = ODD_VALUES[:2]

    result = engine.search(
        SearchQuery(
            filters={"subject": picked, "grade": ["g7"]},
            facets=["subject", "grade", "stage"],
            limit=100,
        )
    )

    assert sorted(hit.id for hit in result.hits) == ["0-0", "1-0", "1-1"]
    assert result.facets["grade"] == [("g7", 3)]
    assert result.facets["stage"] == [("junior", 3)]
    assert dict(result.facets["subject"]) == {
        value: min(i % 3 + 1, 2) for i, value in enumerate(ODD_VALUES)
    }


# ---------------------------------------------------------------- date range


def _dated_docs(make_doc: MakeDoc) -> list[dict[str, Any]]:
    return [
        make_doc("before", updated_at=T0 - SECOND),
        make_doc("from", updated_at=T0),
        make_doc("inside", updated_at=T0 + SECOND),
        make_doc("last", updated_at=T0 + dt.timedelta(days=1) - SECOND),
        make_doc("to", updated_at=T0 + dt.timedelta(days=1)),
        make_doc("undated", updated_at=None, created_at=None),
    ]


def test_date_range_includes_its_start_and_excludes_its_end(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(_dated_docs(make_doc))
    day_after = T0 + dt.timedelta(days=1)

    result = engine.search(
        SearchQuery(date_from=T0, date_to=day_after, facets=["subject"], limit=100)
    )

    assert [hit.id for hit in result.hits] == ["last", "inside", "from"]
    assert result.total == 3
    assert result.facets["subject"] == [("math", 3)]
    assert found(engine, date_from=day_after) == ["to"]
    assert found(engine, date_to=T0) == ["before"]
    assert found(engine, date_from=day_after, date_to=T0) == []


def test_date_range_compares_instants_across_time_zones(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    new_york = dt.timezone(dt.timedelta(hours=-5))
    engine.index(_dated_docs(make_doc))

    # 08:00 in Beijing and 19:00 the day before in New York are T0 (midnight UTC).
    assert found(
        engine,
        date_from=dt.datetime(2024, 3, 1, 8, tzinfo=beijing),
        date_to=dt.datetime(2024, 3, 1, 8, 0, 2, tzinfo=beijing),
    ) == ["inside", "from"]
    assert found(
        engine,
        date_from=dt.datetime(2024, 2, 29, 18, 59, 59, tzinfo=new_york),
        date_to=dt.datetime(2024, 2, 29, 19, tzinfo=new_york),
    ) == ["before"]


def test_date_range_bounds_far_off_are_no_error(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(_dated_docs(make_doc))
    everything = ["to", "last", "inside", "from", "before"]
    far_past = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    far_future = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    west = dt.timezone(-dt.timedelta(hours=12))

    assert found(engine, date_from=far_past) == everything
    assert found(engine, date_to=far_future) == everything
    assert found(engine, date_from=far_past, date_to=far_future.replace(tzinfo=west))
    assert found(engine, date_from=far_future) == []
    assert found(engine, date_to=far_past) == []


def test_date_range_and_text_and_facet_filters_combine(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("in", title="浮力", updated_at=T0),
            make_doc("other-subject", title="浮力", updated_at=T0, subject="physics"),
            make_doc("other-word", title="压强", updated_at=T0),
            make_doc("too-old", title="浮力", updated_at=T0 - SECOND),
        ]
    )

    result = engine.search(
        SearchQuery(
            text="浮力",
            filters={"subject": ["math"]},
            facets=["subject"],
            date_from=T0,
        )
    )

    assert [hit.id for hit in result.hits] == ["in"]
    assert result.facets["subject"] == [("math", 1), ("physics", 1)]


# ----------------------------------------------------------------- tie-breaks


def test_equal_sort_keys_come_in_id_order_as_strings(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    # Indexed in reverse and in separate calls, so that the index's own order of
    # equal documents is not the order of their ids; "10" sorts before "9".
    for doc_id in ["c", "9", "b", "10", "a"]:
        engine.index([make_doc(doc_id, title="分数", downloads=3)])
    engine.index(
        [
            make_doc(
                "top",
                title="分数",
                keywords=["分数"],  # one more field with the word: a higher score
                updated_at=T0 + SECOND,
                downloads=4,
            )
        ]
    )
    equal = ["10", "9", "a", "b", "c"]

    assert found(engine, "分数") == ["top", *equal]
    assert found(engine, "分数", sort="newest") == ["top", *equal]
    assert found(engine, "分数", sort="popular") == ["top", *equal]
    assert found(engine, "", sort="newest") == ["top", *equal]


def test_equal_scores_rank_by_id(engine: SearchEngine, make_doc: MakeDoc) -> None:
    for doc_id in ["z", "y", "x", "w"]:
        engine.index([make_doc(doc_id, title="三角形", text="全等")])

    result = engine.search(SearchQuery(text="三角形", acl=["public"]))

    assert [hit.id for hit in result.hits] == ["w", "x", "y", "z"]
    assert len({hit.score for hit in result.hits}) == 1


# --------------------------------------------------------------------- paging


def _paging_docs(make_doc: MakeDoc) -> list[dict[str, Any]]:
    """63 documents with few distinct dates, download counts and scores, so that
    most sort keys are shared; some are hidden from the public or of another
    subject, some undated."""
    docs = []
    for i in range(63):
        docs.append(
            make_doc(
                f"d{i}",
                title="单元 测试" + " 练习" * (i % 3),
                updated_at=None if i % 10 == 0 else T0 + dt.timedelta(days=i % 4),
                downloads=i % 5,
                acl=["org:s9"] if i % 7 == 3 else ["public"],
                subject="physics" if i % 6 == 1 else "math",
            )
        )
    return docs


def _expected_order(docs: list[dict[str, Any]], sort: str) -> list[str]:
    if sort == "popular":
        return [d["id"] for d in sorted(docs, key=lambda d: (-d["downloads"], d["id"]))]

    def newest(doc: dict[str, Any]) -> tuple[bool, float, str]:
        moment = doc["updated_at"]
        return (moment is None, -moment.timestamp() if moment else 0.0, doc["id"])

    return [d["id"] for d in sorted(docs, key=newest)]


def _page_through(
    engine: SearchEngine, query: SearchQuery, *, limit: int
) -> tuple[list[str], set[int]]:
    """Every hit of *query*, page by page with cursors; and the totals seen."""
    seen: list[str] = []
    totals: set[int] = set()
    cursor = None
    for _ in range(1_000):
        result = engine.search(replace(query, limit=limit, search_after=cursor))
        totals.add(result.total)
        if not result.hits:
            assert result.cursor is None
            return seen, totals
        seen += [hit.id for hit in result.hits]
        cursor = result.cursor
        assert cursor is not None
        # Cursors survive a trip through JSON (an API hands them to browsers).
        cursor = json.loads(json.dumps(cursor))
    raise AssertionError("paging did not end")


def _indexed_paging_docs(
    engine: SearchEngine, make_doc: MakeDoc
) -> list[dict[str, Any]]:
    """:func:`_paging_docs`, indexed in two calls (two segments of an index)."""
    docs = _paging_docs(make_doc)
    engine.index(docs[:30])
    engine.index(docs[30:])
    return docs


def _assert_in_order(hits: list[Hit], docs: list[dict[str, Any]], sort: str) -> None:
    """*hits* are *docs* in Kejian's order for *sort*: by the sort key, then by
    id. The order of scores is read from the hits themselves."""
    if sort != "relevance":
        assert [hit.id for hit in hits] == _expected_order(docs, sort)
        return

    assert sorted(hit.id for hit in hits) == sorted(doc["id"] for doc in docs)
    for a, b in itertools.pairwise(hits):
        assert a.score > b.score or (a.score == b.score and a.id < b.id)


@pytest.mark.parametrize("sort", ["relevance", "newest", "popular"])
@pytest.mark.parametrize("dated", [False, True], ids=["any-date", "date-range"])
def test_cursors_cover_every_visible_result_once(
    engine: SearchEngine, make_doc: MakeDoc, sort: str, dated: bool
) -> None:
    docs = _indexed_paging_docs(engine, make_doc)
    date_from = T0 + dt.timedelta(days=1) if dated else None
    visible = [
        d
        for d in docs
        if d["acl"] == ["public"]
        and d["subject"] == "math"
        and (not dated or (d["updated_at"] and d["updated_at"] >= date_from))
    ]
    query = SearchQuery(
        text="单元 测试",
        sort=sort,
        filters={"subject": ["math"]},
        acl=["public"],
        date_from=date_from,
    )

    paged, totals = _page_through(engine, query, limit=7)
    whole = engine.search(replace(query, limit=100))

    # Every visible match once, none hidden, in the order of one long page.
    assert totals == {len(visible)}
    assert paged == [hit.id for hit in whole.hits]
    _assert_in_order(whole.hits, visible, sort)


@pytest.mark.parametrize("sort", ["relevance", "newest", "popular"])
def test_offset_pages_with_shared_keys_cover_the_results_once(
    engine: SearchEngine, make_doc: MakeDoc, sort: str
) -> None:
    docs = _indexed_paging_docs(engine, make_doc)
    query = SearchQuery(text="单元", sort=sort, acl=[ACL_ALL])

    pages = [
        [hit.id for hit in engine.search(replace(query, offset=o, limit=9)).hits]
        for o in range(0, 63, 9)
    ]

    whole = engine.search(replace(query, limit=100))
    assert [doc for page in pages for doc in page] == [hit.id for hit in whole.hits]
    _assert_in_order(whole.hits, docs, sort)


def test_a_cursor_from_a_wider_view_reveals_nothing_hidden(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc(f"d{i}", downloads=10 - i, acl=["org:s9"] if i % 2 else ["public"])
            for i in range(8)
        ]
    )
    # The system's cursor stops on d3, which only school s9 may see.
    system = engine.search(SearchQuery(sort="popular", limit=4, acl=[ACL_ALL]))
    assert [hit.id for hit in system.hits] == ["d0", "d1", "d2", "d3"]

    public = engine.search(
        SearchQuery(sort="popular", acl=["public"], search_after=system.cursor)
    )

    assert [hit.id for hit in public.hits] == ["d4", "d6"]
    assert public.total == 4


def test_cursors_page_on_from_dated_to_undated_documents(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [make_doc(f"u{i}", updated_at=None) for i in range(3)]
        + [make_doc(f"d{i}", updated_at=T0 + i * SECOND) for i in range(3)]
    )

    paged, _ = _page_through(engine, SearchQuery(sort="newest"), limit=2)

    assert paged == ["d2", "d1", "d0", "u0", "u1", "u2"]


def test_cursors_tell_apart_ids_that_share_a_long_prefix(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    ids = [f"kejian-resource-{i}" for i in range(25)]
    engine.index([make_doc(i, title="分数", downloads=7) for i in reversed(ids)])

    for sort in ("relevance", "newest", "popular"):
        query = SearchQuery(text="分数", sort=sort)
        paged, _ = _page_through(engine, query, limit=4)

        assert paged == sorted(ids), sort


def test_cursors_page_past_the_offset_window(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    # Tiny documents, indexed in one call; dates and downloads shared in threes.
    total = MAX_RESULT_WINDOW + 50
    docs = [
        {
            "id": f"r{i}",
            "acl": ["public"],
            "updated_at": T0 + (i // 3) * SECOND,
            "downloads": i // 3 % 100,
        }
        for i in range(total)
    ]
    engine.index(docs)

    for sort in ("newest", "popular"):
        paged, totals = _page_through(engine, SearchQuery(sort=sort), limit=2_500)

        assert totals == {total}
        assert paged == _expected_order(docs, sort)


# ------------------------------------------------------------ cursor checks

MALFORMED_CURSORS: list[Any] = [
    "garbage",
    b"garbage",
    12,
    {"score": 1.0, "id": "a"},
    [],
    ["a"],
    [1, "a", "extra"],
    [1, 2],
    [1, None],
    [[1], "a"],
    [{"score": 1}, "a"],
    [True, "a"],
    ["1", "a"],
]


@pytest.mark.parametrize("sort", ["relevance", "newest", "popular"])
@pytest.mark.parametrize(
    "cursor", MALFORMED_CURSORS, ids=[repr(c) for c in MALFORMED_CURSORS]
)
def test_a_malformed_cursor_is_a_query_error(
    engine: SearchEngine, make_doc: MakeDoc, sort: str, cursor: Any
) -> None:
    engine.index([make_doc("a", title="分数")])

    with pytest.raises(QueryError):
        engine.search(SearchQuery(text="分数", sort=sort, search_after=cursor))


@pytest.mark.parametrize(
    ("sort", "cursor"),
    [
        ("relevance", [float("nan"), "a"]),
        ("relevance", [float("inf"), "a"]),
        ("popular", [2.5, "a"]),
        ("newest", [2.5, "a"]),
        ("newest", ["yesterday", "a"]),
    ],
)
def test_a_cursor_with_a_key_of_another_kind_is_a_query_error(
    engine: SearchEngine, make_doc: MakeDoc, sort: str, cursor: list[Any]
) -> None:
    engine.index([make_doc("a", title="分数")])

    with pytest.raises(QueryError):
        engine.search(SearchQuery(text="分数", sort=sort, search_after=cursor))


def test_a_cursor_with_an_offset_is_a_query_error(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index([make_doc(f"d{i}", title="分数") for i in range(5)])
    first = engine.search(SearchQuery(text="分数", limit=2))
    assert first.cursor is not None

    with pytest.raises(QueryError, match="offset"):
        engine.search(
            SearchQuery(text="分数", limit=2, offset=2, search_after=first.cursor)
        )


def test_no_hits_no_cursor(engine: SearchEngine, make_doc: MakeDoc) -> None:
    engine.index([make_doc("a", title="分数")])

    assert engine.search(SearchQuery(text="没有")).cursor is None
    assert engine.search(SearchQuery(text="分数", limit=0)).cursor is None


# Found by trying searches as teachers would (QA, 2026-12-04).


def test_a_kind_word_in_the_body_does_not_make_a_document_that_kind(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    filler = " ".join(f"word{i}" for i in range(300))
    engine.index(
        [
            make_doc("exercises", title="分数 练习题", resource_type="exercises"),
            # A lesson plan whose boilerplate mentions 课堂练习 is no exercise sheet.
            make_doc(
                "plan",
                title="第三单元 教案",
                resource_type="lesson-plan",
                description="课堂练习分为基础题和拓展题。",
                text=f"{filler} 分数 {filler}",
            ),
            make_doc(
                "strong",
                title="分数的意义 教案",
                resource_type="lesson-plan",
                description="分数",
                text="分数",
            ),
        ]
    )

    assert found(engine, "分数 习题") == ["exercises", "strong", "plan"]


def test_every_word_outranks_the_kind_when_fewer_words_are_enough(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("both", title="人教版 七年级 数学 单元测试卷"),
            make_doc("every", title="人教版 七年级 数学 有理数 课件"),
            # Another subject's test paper: of the kind, but not on the topic.
            make_doc("other-subject", title="人教版 七年级 美术 单元测试卷"),
        ]
    )

    assert found(engine, "人教版 七年级 数学 试卷") == ["both", "every", "other-subject"]


def test_sorting_by_date_keeps_documents_with_every_word_first(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc(
                "slides",
                title="The present perfect tense",
                updated_at=dt.datetime(2023, 1, 1, tzinfo=dt.UTC),
            ),
            make_doc(
                "continuous",
                title="The present continuous tense",
                updated_at=dt.datetime(2024, 6, 1, tzinfo=dt.UTC),
            ),
        ]
    )

    assert found(engine, "present perfect tense")[0] == "slides"
    assert found(engine, "present perfect tense", sort="newest")[0] == "slides"
    assert found(engine, "present perfect tense", sort="popular")[0] == "slides"


def test_a_kind_word_beside_a_topic_nothing_has_does_not_list_the_whole_kind(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("fractions", title="分数的加法 课件"),
            make_doc("decimals", title="小数的乘法 PPT"),
        ]
    )

    # No material on dinosaurs: every slide deck on other topics is no answer.
    assert found(engine, "恐龙 课件") == []


def test_a_run_typed_across_punctuation_still_finds_its_title(
    engine: SearchEngine, make_doc: MakeDoc
) -> None:
    engine.index(
        [
            make_doc("plan", title="《论语》十二章 教学设计"),
            make_doc("other", title="《孟子》二章 教学设计"),
        ]
    )

    # 语十 is no pair of the title: the run needs all but one of its pairs.
    assert found(engine, "论语十二章") == ["plan"]
    assert found(engine, "论语十二章 教案") == ["plan"]
