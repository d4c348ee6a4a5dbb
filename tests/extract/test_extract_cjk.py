"""CJK line joining, text clean-up and the language guess."""

from __future__ import annotations

import pytest

from indexer.extract.cjk import clean_text, guess_language, han_ratio, join_cjk_lines


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A word cut by the page edge is mended.
        ("浅谈校\n长的魅力", "浅谈校长的魅力"),
        # Trailing spaces before the break do not stop the join.
        ("山西省闻喜县 \t\n诚镇初中", "山西省闻喜县诚镇初中"),
        # After a comma the sentence goes on.
        ("学而时习之，\n不亦说乎", "学而时习之，不亦说乎"),
        # Kana join like Han.
        ("みんなの\nおのおの", "みんなのおのおの"),
        # A continued line may start with punctuation.
        ("校长\n，老师", "校长，老师"),
        # Sentence ends keep their break: one paragraph per line is common.
        ("第一段。\n第二段", "第一段。\n第二段"),
        ("真的吗？\n是的", "真的吗？\n是的"),
        # Paragraph breaks stay.
        ("第一段\n\n第二段", "第一段\n\n第二段"),
        # An indented line starts a paragraph.
        ("标题\n\u3000\u3000正文", "标题\n\u3000\u3000正文"),
        # Latin text keeps its line breaks (they are word breaks).
        ("hello\nworld", "hello\nworld"),
        ("中文\nEnglish", "中文\nEnglish"),
        ("English\n中文", "English\n中文"),
        # Korean separates words with spaces: joining would glue two words.
        ("안녕하세요\n세계", "안녕하세요\n세계"),
    ],
)
def test_join_cjk_lines(text: str, expected: str) -> None:
    assert join_cjk_lines(text) == expected


def test_clean_text_normalises_line_ends_and_controls() -> None:
    raw = "浅谈校\r\n长\x00的魅力\r\n\r\n\r\n\r\n第二段\x83\x0c第三页\ufeff  \n"

    assert clean_text(raw) == "浅谈校长的魅力\n\n第二段\n\n第三页"


def test_clean_text_drops_lone_surrogates() -> None:
    assert clean_text("a\ud800b") == "ab"


def test_han_ratio() -> None:
    assert han_ratio("") == 0.0
    assert han_ratio("123 !!") == 0.0
    assert han_ratio("校长") == 1.0
    assert han_ratio("校长ab") == 0.5


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("浅谈校长的魅力", "zh"),
        ("三字經：人之初，性本善", "zh"),
        # LaTeX commands and one-letter variables do not make a maths lesson English.
        (r"已知集合 $A=\{x \in R \mid x \leqslant 2\}$，求 $A \cap B$", "zh"),
        ("みんなのおのおののなかのすべてですから宇宙塵", "ja"),
        ("안녕하세요 세계", "ko"),
        ("Trace-based just-in-time type specialization", "en"),
        ("Привет, мир", "ru"),
        ("1234 5678", None),
        ("", None),
    ],
)
def test_guess_language(text: str, language: str | None) -> None:
    assert guess_language(text) == language
