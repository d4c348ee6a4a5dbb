"""Script-aware text clean-up for the index: CJK line joining and a language guess.

PDF and plain-text sources break Chinese lines at the page edge. Chinese puts no space
between words, so a line break in the middle of a sentence cuts a word in two
(``校\\n长``) and the index would never match ``校长``. Joining those lines is the one
clean-up the search quality depends on; the rest (control characters, line endings)
keeps the stored text tidy.

A break is removed only where the line ends in a Han or kana character or in
punctuation that cannot end a sentence, and the next line starts with CJK text at
once. Lines ending in ``。！？`` or a closing quote keep their break, because Chinese
plain text usually puts one paragraph on each line; an indented next line
(``\\u3000\\u3000``) also keeps it, because that indent starts a paragraph. Hangul
is not joined: Korean separates words with spaces.
"""

from __future__ import annotations

import re

__all__ = ["clean_text", "guess_language", "han_ratio", "is_han", "join_cjk_lines"]

# Han ideographs: unified (basic, extension A, B to H) and compatibility blocks, plus
# the ideographic zero and iteration marks.
_HAN = (
    "\u3005\u3007\u3021-\u3029\u3038-\u303b"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0002ebef\U00030000-\U000323af\U0002f800-\U0002fa1f"
)
_KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9d"
_FULLWIDTH_ALNUM = "\uff10-\uff19\uff21-\uff3a\uff41-\uff5a"
# Punctuation after which a sentence goes on: commas, colons, opening brackets and
# quotes, closing brackets (a bracketed aside sits inside a sentence), dashes.
_OPEN_PUNCT = "，、：；（《〈「『【〔〖“‘—·～"
_CLOSE_BRACKETS = "）》〉】〕〗"
_LEFT = _HAN + _KANA + _FULLWIDTH_ALNUM + _OPEN_PUNCT + _CLOSE_BRACKETS
# Any CJK punctuation or symbol may start a continued line.
_RIGHT = _HAN + _KANA + "\u3001-\u303f\uff00-\uffef\ufe10-\ufe1f\ufe30-\ufe4f“‘"

_JOIN_RE = re.compile(f"([{_LEFT}])[ \\t]*\\n(?=[{_RIGHT}])")
_HAN_RE = re.compile(f"[{_HAN}]")

# C0 and C1 controls except tab and newline, byte-order marks, non-characters and lone
# surrogates (from broken UTF-16 in PDFs).
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff\ud800-\udfff]")
_NEWLINE_RE = re.compile("\r\n|[\r\u2028\u2029\x0b\x85]")
_TRAILING_SPACE_RE = re.compile("[ \\t\u00a0]+\n")
_BLANK_LINES_RE = re.compile("\n{3,}")

# Scripts counted by :func:`guess_language`: name -> (language code, ranges).
_SCRIPTS: dict[str, tuple[str, str]] = {
    "han": ("zh", _HAN),
    "kana": ("ja", _KANA),
    "hangul": ("ko", "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"),
    "cyrillic": ("ru", "\u0400-\u04ff"),
    "greek": ("el", "\u0370-\u03ff"),
    "arabic": ("ar", "\u0600-\u06ff\u0750-\u077f"),
    "hebrew": ("he", "\u0590-\u05ff"),
    "thai": ("th", "\u0e00-\u0e7f"),
    "devanagari": ("hi", "\u0900-\u097f"),
}
_SCRIPT_RES = {
    name: re.compile(f"[{ranges}]") for name, (_, ranges) in _SCRIPTS.items()
}
# Latin words of two letters or more, not LaTeX commands: maths in Chinese lessons is
# full of single-letter variables and ``\\frac``-like commands that say nothing about
# the language.
_LATIN_WORD_RE = re.compile("(?<![\\\\A-Za-z\u00c0-\u024f])[A-Za-z\u00c0-\u024f]{2,}")
_SAMPLE_CHARS = 200_000


def is_han(char: str) -> bool:
    """Whether ``char`` is a Han ideograph (simplified, traditional or Japanese)."""
    return _HAN_RE.fullmatch(char) is not None


def join_cjk_lines(text: str) -> str:
    """Remove line breaks that cut CJK sentences in two; keep paragraph breaks.

    ``text`` must already use ``\\n`` line endings (see :func:`clean_text`).
    """
    return _JOIN_RE.sub(r"\1", text)


def clean_text(text: str) -> str:
    """Normalise extracted text for storage and indexing.

    Line endings become ``\\n``, form feeds (page breaks) become paragraph breaks,
    control characters are dropped, CJK lines are joined, trailing spaces and runs of
    blank lines are collapsed.
    """
    text = _NEWLINE_RE.sub("\n", text).replace("\x0c", "\n\n")
    text = _CONTROL_RE.sub("", text)
    text = _TRAILING_SPACE_RE.sub("\n", text)
    text = join_cjk_lines(text)
    return _BLANK_LINES_RE.sub("\n\n", text).strip()


def han_ratio(text: str) -> float:
    """Share of Han ideographs among the letters of ``text`` (0.0 without letters).

    Letters are characters Python calls alphabetic: Latin, Cyrillic, kana, Han, ...
    Digits, punctuation and spaces do not count.
    """
    sample = text[:_SAMPLE_CHARS]
    letters = sum(1 for char in sample if char.isalpha())
    if not letters:
        return 0.0

    return len(_HAN_RE.findall(sample)) / letters


def guess_language(text: str) -> str | None:
    """Guess the main language of ``text`` from the scripts it is written in.

    Each Han, kana or Hangul character counts as one unit, each word of an alphabetic
    script as one unit, so that a Chinese maths text full of LaTeX commands still
    reads as Chinese (LaTeX commands and one-letter words are not counted). The
    script with most units wins; Japanese is recognised by its kana even when kanji
    outnumber them. Latin script is reported as ``"en"``: telling
    English from French is beyond a script count. Returns ``None`` for text without
    letters.
    """
    sample = text[:_SAMPLE_CHARS]
    units = {
        name: len(pattern.findall(sample)) for name, pattern in _SCRIPT_RES.items()
    }
    units["latin"] = len(_LATIN_WORD_RE.findall(sample))
    if not any(units.values()):
        return None

    if units["kana"] and units["kana"] >= 0.1 * (units["han"] + units["kana"]):
        return "ja"

    units["han"] += units.pop("kana")
    best = max(units, key=lambda name: units[name])
    if best == "latin":
        return "en"

    return _SCRIPTS[best][0]
