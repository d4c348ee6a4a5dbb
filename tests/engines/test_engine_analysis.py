"""The analyzer every engine shares: tokens, query plans, snippets, suggestion keys."""

from __future__ import annotations

import pytest

from indexer.analysis import (
    MAX_QUERY_TOKENS,
    MAX_WORD_CHARS,
    Part,
    Synonyms,
    compact,
    default_synonyms,
    fuzziness,
    highlight,
    pinyin_keys,
    pinyin_words,
    plan_query,
    suggest_keys,
    tokens,
    word_form,
)

# ------------------------------------------------------------------- tokens


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("数学课件", ["数学", "学课", "课件"]),
        ("数", ["数"]),
        ("数 学", ["数", "学"]),
        ("初二(3)班", ["初二", "3", "班"]),
        ("PPT课件", ["ppt", "课件"]),
        ("ＰＰＴ，①", ["ppt", "1"]),
        ("Teacher's Guide", ["teacher", "guide"]),
        ("東京タワー 한국어", ["東京", "京タ", "タワ", "ワー", "한국", "국어"]),
        ("a\x00b\x07c\u200bd", ["a", "b", "c", "d"]),
        ("x² + y_1", ["x2", "y", "1"]),
        ("😀🎉!?", []),
        ("", []),
    ],
)
def test_tokens(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("lessons", "lesson"),
        ("classes", "class"),
        ("studies", "study"),
        ("boxes", "box"),
        ("class", "class"),
        ("campus", "campus"),
        ("analysis", "analysis"),
        ("gas", "gas"),
        ("1990s", "1990s"),
        ("don't", "dont"),
        ("teacher's", "teacher"),
        ("teacher\u2019s", "teacher"),
    ],
)
def test_word_form(word: str, expected: str) -> None:
    assert word_form(word) == expected


def test_very_long_words_are_cut() -> None:
    assert tokens("x" * 500) == ["x" * MAX_WORD_CHARS]


# ------------------------------------------------------------- query plans


def test_a_chinese_run_needs_all_its_bigrams() -> None:
    plan = plan_query("二次函数")

    assert plan.parts == (
        Part((("二次", "次函", "函数"),), pinyin=("ercihanshu",)),
    )
    assert plan.phrases == (("二次", "次函", "函数"),)


def test_each_word_is_a_part() -> None:
    plan = plan_query("quadratic 函数 formula")

    assert [part.alternatives for part in plan.parts] == [
        (("quadratic",),),
        (("函数",),),
        (("formula",),),
    ]


def test_a_synonym_splits_a_run_into_alternatives() -> None:
    synonyms = Synonyms([["数学", "math"], ["课件", "PPT", "幻灯片"]])

    plan = plan_query("高中数学课件", synonyms)

    assert [part.alternatives for part in plan.parts] == [
        (("高中",),),
        (("数学",), ("math",)),
        (("课件",), ("ppt",), ("幻灯", "灯片")),
    ]


def test_multi_word_synonyms_match_whole_words() -> None:
    synonyms = Synonyms([["教案", "lesson plan"]])

    assert plan_query("Lesson Plans", synonyms).parts == (
        Part((("教案",), ("lesson", "plan"))),
    )
    assert plan_query("lesson", synonyms).parts == (
        Part((("lesson",),), fuzzy=("lesson", 1)),
    )


def test_a_kind_of_material_beside_a_topic_only_ranks() -> None:
    synonyms = Synonyms([["课件", "PPT"], ["数学", "math"]], kinds=["课件", "素材"])

    plan = plan_query("浮力 PPT", synonyms)
    assert [part.kind for part in plan.parts] == [False, True]
    assert plan.required == plan.parts[:1] and plan.optional == plan.parts[1:]
    # Alone, or beside nothing but kinds, every part is required.
    for text in ("课件", "课件 素材"):
        plan = plan_query(text, synonyms)
        assert plan.required == plan.parts and plan.optional == ()
    # A kind outside every group stands alone; topics are no kinds.
    assert plan_query("素材", synonyms).parts == (Part((("素材",),), kind=True),)
    assert not plan_query("数学", synonyms).parts[0].kind


def test_the_shipped_synonyms_load() -> None:
    plan = plan_query("课件", default_synonyms())

    assert ("ppt",) in plan.parts[0].alternatives


def test_a_lone_character_is_a_prefix() -> None:
    assert plan_query("数").parts == (Part((("数*",),)),)
    assert plan_query("数").terms == {"数"}


def test_query_syntax_is_just_words() -> None:
    plan = plan_query('title:foo AND ("bar" OR baz*)^2')

    assert [part.alternatives[0][0] for part in plan.parts] == [
        "title",
        "foo",
        "and",
        "bar",
        "or",
        "baz",
        "2",
    ]


def test_queries_are_capped() -> None:
    long_run = plan_query("数" * 10_000)
    many_words = plan_query(" ".join(f"w{i}" for i in range(500)))

    assert sum(len(p.alternatives[0]) for p in long_run.parts) == MAX_QUERY_TOKENS
    assert len(many_words.parts) == MAX_QUERY_TOKENS


def test_a_query_without_words_plans_nothing() -> None:
    assert not plan_query(" ，。!? 😀 ")


# --------------------------------------------------------------- highlights


def test_highlight_escapes_and_wraps() -> None:
    text = "<b>数学</b> & Teacher's lessons"

    assert highlight(text, {"数学", "teacher", "lesson"}) == (
        "&lt;b&gt;<em>数学</em>&lt;/b&gt; &amp; "
        "<em>Teacher</em>&#x27;s <em>lessons</em>"
    )


def test_highlight_joins_overlapping_bigrams() -> None:
    assert (
        highlight("学习二次函数吧", {"二次", "次函", "函数"})
        == "学习<em>二次函数</em>吧"
    )


def test_highlight_matches_whole_words_only() -> None:
    assert highlight("mathematics and aftermath", {"math"}) is None


def test_highlight_keeps_the_original_characters() -> None:
    # Full-width letters and a ligature change length when normalised.
    assert highlight("ﬁnal ＰＰＴ", {"final", "ppt"}) == "<em>ﬁnal</em> <em>ＰＰＴ</em>"


def test_highlight_picks_a_window_around_the_matches() -> None:
    text = "无关内容。" * 100 + "浮力的计算" + "其他内容。" * 100

    snippet = highlight(text, {"浮力"}, 60)

    assert snippet is not None
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "<em>浮力</em>" in snippet
    assert len(snippet.replace("<em>", "").replace("</em>", "")) == 62


def test_highlight_without_a_match_is_none() -> None:
    assert highlight("没有", {"浮力"}) is None
    assert highlight("", {"浮力"}) is None


# -------------------------------------------------------------- suggestions


def test_suggest_keys_cover_text_pinyin_and_initials() -> None:
    head, contained = suggest_keys("PPT 重庆银行")

    assert head == {"ppt重庆银行", "pptchongqingyinhang", "pptcqyh"}
    assert {
        "重庆银行",
        "银行",
        "chongqingyinhang",
        "yinhang",
        "cqyh",
        "yh",
    } <= contained
    assert head <= contained


def test_pinyin_words_of_two_to_four_characters_with_their_initials() -> None:
    words = pinyin_words("PPT 重庆银行 课件 a 数")

    # Read in context (银行 is yinhang), every run of two to four characters.
    assert {"chongqing", "qingyin", "yinhang", "chongqingyinhang", "cqyh"} <= set(words)
    assert {"kejian", "kj", "yh"} <= set(words)
    # Words of other scripts and lone characters give none; no word twice.
    assert not {"ppt", "a", "shu", "s", "chong"} & set(words)
    assert len(words) == len(set(words))
    # Kana have no pinyin.
    assert pinyin_words("ひらがな") == []


def test_full_pinyin_words_leave_the_initials_out() -> None:
    words = pinyin_words("勾股定理", initials=False)

    assert "gougudingli" in words and "gudingli" in words
    assert not {"ggdl", "gg", "dl"} & set(words)


# ------------------------------------------------------------ near matches


def test_a_run_sounds_like_its_pinyin_and_longer_ones_like_their_windows() -> None:
    assert pinyin_keys("光和作用") == ("guanghezuoyong",)
    assert pinyin_keys("一元一次方成") == (
        "yiyuanyici",
        "yuanyicifang",
        "yicifangcheng",
    )
    # Every key is a word the pinyin of the title meant holds.
    assert set(pinyin_keys("一元一次方成")) <= set(pinyin_words("一元一次方程"))


def test_short_and_long_runs_and_kana_have_no_pinyin_keys() -> None:
    assert pinyin_keys("物理") == ()
    assert pinyin_keys("光" * 13) == ()
    assert pinyin_keys("ひらがな") == ()


@pytest.mark.parametrize(
    ("word", "edits"),
    [
        ("cat", 0),
        ("form", 1),
        ("grammer", 1),
        ("theorems", 2),
        ("photosythesis", 2),
        ("café", 1),
        ("mp3s", 0),
        ("数学", 0),
        ("слово", 0),
    ],
)
def test_fuzziness_grows_with_the_length_of_latin_words(word: str, edits: int) -> None:
    assert fuzziness(word) == edits


def test_a_plan_carries_the_near_matches_of_its_parts() -> None:
    plan = plan_query("勾股定里 theorm")

    assert plan.parts == (
        Part((("勾股", "股定", "定里"),), pinyin=("gougudingli",)),
        Part((("theorm",),), fuzzy=("theorm", 1)),
    )
    # Near matches are no terms: nothing is highlighted or boosted for them.
    assert plan.terms == {"勾股", "股定", "定里", "theorm"}


def test_compact_drops_separators() -> None:
    assert compact(" 初中 数学, Grade-7 ") == "初中数学grade7"


def test_an_empty_title_has_no_keys() -> None:
    assert suggest_keys("!!") == (set(), set())
