"""Text analysis shared by indexing, querying, highlighting and suggestions.

Chinese has no spaces between words, and a word segmenter would need a dictionary that
never knows the newest textbook terms. Like Elasticsearch's ``cjk`` analyzer, we index
every run of CJK characters (Han, kana, hangul) as overlapping character bigrams
(``数学课件`` -> ``数学 学课 课件``): any two-character word inside a run is then found
without a dictionary, and a longer word is found by requiring all its bigrams. Latin
letters and digits become lower-cased words.

The analysis runs here in Python rather than in a tokenizer registered with the search
engine, for three reasons:

- the same function analyses documents and queries, so what is indexed and what is
  looked up can never drift apart, in tantivy or in Elasticsearch;
- user text never reaches an engine's query parser (``title:foo AND (`` is just three
  words), so queries cannot fail on syntax;
- a tokenizer registered in tantivy-py lives only in the process that registered it,
  whereas a token stream joined by spaces is read by tantivy's built-in ``whitespace``
  tokenizer in every process (web, worker, CLI) without setup.

A query (:func:`plan_query`) asks for every word, and a CJK run of the query for all
its bigrams: recall is full (a two-character word is one bigram, found wherever it
occurs) and a longer word does not match documents that merely share a character
pair with it. Synonyms (``synonyms.json``) widen a word to any of its group. Engines
fall back to any word when no document has them all. A misspelt part is still found,
with a low score: a CJK run by its pinyin (homophones typed by an input method), a
Latin word within one or two edits.

Traditional/simplified conversion is out of scope: 数學 and 数学 are different words.
"""

from __future__ import annotations

import functools
import html
import json
import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Scripts written without spaces: Hangul jamo, radicals, kana, bopomofo, CJK
#: ideographs (with extensions and compatibility forms), 々〆〇, Hangul syllables,
#: half-width kana and Hangul (folded to full width by NFKC).
_CJK = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3041-\u309f\u30a1-\u30fa\u30fc-\u30ff"
    "\u3100-\u312f\u3131-\u318e\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff\uff66-\uffdc"
    "\U00020000-\U0003134f"
)

#: A CJK run, or a word of letters and digits of any other script (with inner
#: apostrophes, so that "teacher's" stays one word). Everything else separates.
_TOKEN_RE = re.compile(
    rf"(?P<cjk>[{_CJK}]+)|(?P<word>[^\W_{_CJK}]+(?:['\u2019][^\W_{_CJK}]+)*)"
)
_WORD_RE = re.compile(rf"[^\W_{_CJK}]+(?:['\u2019][^\W_{_CJK}]+)*")
_CJK_CHAR_RE = re.compile(rf"[{_CJK}]")
#: A word of Latin letters only (lower case, as words are indexed): basic Latin,
#: Latin-1, Latin Extended-A and -B.
_LATIN_WORD_RE = re.compile("[a-z\u00df-\u00f6\u00f8-\u00ff\u0100-\u024f]+")

#: Letters, digits and ideographs that NFKC changes (full-width forms, ligatures,
#: circled and super-script digits, compatibility ideographs, half-width kana).
#: Highlighting folds a text only when it holds one of them: folding costs more
#: than the rest of the snippet, and Chinese punctuation alone needs none.
_COMPAT_RE = re.compile(
    "[\u00aa\u00b2\u00b3\u00b9\u00ba\u00bc-\u00be\u0132\u0133\u013f\u0140\u0149"
    "\u017f\u01c4-\u01cc\u01f1-\u01f3\u02b0-\u02b8\u1d2c-\u1dbf\u2070-\u209f"
    "\u2100-\u218f\u2460-\u24ff\u2e80-\u2fdf\u3131-\u318e\u3192-\u319f"
    "\u3200-\u33ff\uf900-\ufaff\ufb00-\ufb4f\uff10-\uff19\uff21-\uff3a"
    "\uff41-\uff5a\uff66-\uffdc\U0001d400-\U0001d7ff\U0001f100-\U0001f1ff"
    "\U0002f800-\U0002fa1f]"
)

#: Longer words (hashes, base64, run-together URLs) are cut to this many characters.
MAX_WORD_CHARS = 40

#: A query is analysed from at most this many characters ...
MAX_QUERY_CHARS = 1024
#: ... into at most this many tokens (synonyms included), which bounds search latency.
MAX_QUERY_TOKENS = 64

#: Ends a token that stands for every token starting with it (a lone CJK character
#: of the query matches the bigrams it begins).
PREFIX_MARK = "*"

#: Titles are cut to this many characters (without spaces) for suggestion keys.
MAX_SUGGEST_CHARS = 48


def normalize(text: str) -> str:
    """Fold compatibility forms (full-width ``ＰＰＴ``, ``①``) and case."""
    return unicodedata.normalize("NFKC", text).lower()


def word_form(word: str) -> str:
    """Return the indexed form of one normalised word.

    Possessives lose their ``'s`` and other apostrophes disappear (``don't`` ->
    ``dont``). Plain English plurals lose their ending by a deliberately small rule
    (``lessons`` -> ``lesson``, ``classes`` -> ``class``, ``studies`` -> ``study``);
    words ending in ``ss``, ``us`` or ``is`` and words with digits or non-ASCII
    letters are left alone. Both documents and queries go through this function,
    so an imperfect stem (``news`` -> ``new``) still matches itself.
    """
    if "'" in word or "\u2019" in word:
        word = word.replace("\u2019", "'")
        word = word.removesuffix("'s")
        word = word.replace("'", "")

    if len(word) > 3 and word.isascii() and word.isalpha() and word.endswith("s"):
        if word.endswith("ies") and len(word) > 4:
            word = word[:-3] + "y"
        elif word.endswith(("sses", "xes", "ches", "shes")):
            word = word[:-2]
        elif not word.endswith(("ss", "us", "is")):
            word = word[:-1]

    return word[:MAX_WORD_CHARS]


def bigrams(run: str) -> list[str]:
    """Overlapping bigrams of a CJK run; a run of one character stays a unigram."""
    if len(run) < 2:
        return [run]
    return list(map(str.__add__, run[:-1], run[1:]))


def _pieces(text: str) -> Iterator[tuple[str, bool]]:
    """Yield (normalised piece, is CJK) for every CJK run and word of *text*.

    Each piece is normalised on its own: most pieces are already in normal form,
    which NFKC confirms quickly, whereas the full-width punctuation of any Chinese
    text would make normalising the whole text several times slower.
    """
    for match in _TOKEN_RE.finditer(text):
        piece = match.group()
        if piece.isascii():
            yield piece.lower(), False
            continue

        folded = normalize(piece)
        if folded == piece:
            yield piece, match.lastgroup == "cjk"
        else:
            # Folding may merge or split pieces (ＰＰＴ, ｶﾀｶﾅ, ½): look again.
            for again in _TOKEN_RE.finditer(folded):
                yield again.group(), again.lastgroup == "cjk"


def tokens(text: str) -> list[str]:
    """Analyse *text* into the tokens that are indexed and looked up."""
    out: list[str] = []
    for piece, is_cjk in _pieces(text):
        if is_cjk:
            out.extend(bigrams(piece))
        else:
            word = word_form(piece)
            if word:
                out.append(word)
    return out


def index_text(text: str) -> str:
    """The tokens of *text* joined by spaces, for an engine's whitespace tokenizer."""
    return " ".join(tokens(text))


# --------------------------------------------------------------------------- synonyms


def _key(term: str) -> tuple[str, ...]:
    """The atoms a synonym is looked up by (see :func:`_atoms`)."""
    return tuple(atom for atom, _ in _atoms(term))


class Synonyms:
    """Groups of interchangeable terms (``课件``, ``PPT``, ``幻灯片`` ...).

    A group member may be a CJK word, one or more Latin words, or a mix. In a query,
    the longest member found is replaced by the choice of every member of its group.

    Some terms name a kind of material rather than a topic (``课件``, ``微课``,
    ``试卷``): their groups are *kinds*. A teacher who types ``浮力 PPT`` wants slides
    on buoyancy first, and the other material on buoyancy after them rather than
    nothing else; see :attr:`Part.kind`.
    """

    def __init__(
        self, groups: Iterable[Iterable[str]], kinds: Iterable[str] = ()
    ) -> None:
        self._lookup: dict[tuple[str, ...], int] = {}
        self._groups: list[tuple[tuple[str, ...], ...]] = []
        self._kinds: set[int] = set()
        self.max_atoms = 0
        for members in groups:
            self._add(members, least=2)
        for term in kinds:
            # A kind outside every group is a group of its own.
            group = self._lookup.get(_key(term))
            if group is None:
                group = self._add([term], least=1)
            if group is not None:
                self._kinds.add(group)

    def _add(self, members: Iterable[str], *, least: int) -> int | None:
        """Add a group of *members* (when at least *least* differ) and return it."""
        alternatives: list[tuple[str, ...]] = []
        keys: list[tuple[str, ...]] = []
        for member in members:
            member_tokens = tuple(tokens(member))
            if not member_tokens or member_tokens in alternatives:
                continue
            alternatives.append(member_tokens)
            keys.append(_key(member))
        if len(alternatives) < least:
            return None
        group_id = len(self._groups)
        self._groups.append(tuple(alternatives))
        for key in keys:
            self._lookup.setdefault(key, group_id)
            self.max_atoms = max(self.max_atoms, len(key))
        return group_id

    @classmethod
    def load(cls, path: Path) -> Synonyms:
        """Read a JSON file whose ``groups`` key holds lists of equivalent terms and
        whose ``kinds`` key lists the terms that name a kind of material."""
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["groups"], data.get("kinds", ()))

    def is_kind(self, group: int) -> bool:
        """Whether the group names a kind of material (see the class docstring)."""
        return group in self._kinds

    def match(self, atoms: Sequence[str], start: int) -> tuple[int, int] | None:
        """The longest member starting at ``atoms[start]``: (atom count, group)."""
        longest = min(self.max_atoms, len(atoms) - start)
        for size in range(longest, 0, -1):
            group = self._lookup.get(tuple(atoms[start : start + size]))
            if group is not None:
                return size, group
        return None

    def alternatives(self, group: int) -> tuple[tuple[str, ...], ...]:
        return self._groups[group]


@functools.cache
def default_synonyms() -> Synonyms:
    """The synonyms shipped in ``indexer/synonyms.json``, read once per process."""
    return Synonyms.load(Path(__file__).with_name("synonyms.json"))


# ------------------------------------------------------------------------------ query


@dataclass(frozen=True)
class Part:
    """One thing the query asks for: any alternative, each needing all its tokens.

    Two looser matches find what a misspelt part meant; engines score them low
    (:data:`indexer.engines.common.NEAR_BOOST`), so that exact matches rank first.
    """

    alternatives: tuple[tuple[str, ...], ...]
    #: The full pinyin of a CJK run (see :func:`pinyin_keys`), every word required
    #: in a title's pinyin: ``光和作用`` finds 光合作用 typed with a homophone.
    pinyin: tuple[str, ...] = ()
    #: A Latin word and the edits a term may be away from it (see
    #: :func:`fuzziness`): ``theorm`` finds ``theorem``.
    fuzzy: tuple[str, int] | None = None
    #: The part names a kind of material (``课件``): beside other parts it ranks
    #: what matches it first without excluding the rest (see
    #: :attr:`QueryPlan.required`).
    kind: bool = False


@dataclass(frozen=True)
class QueryPlan:
    """What a query text asks for, independent of any engine.

    :meth:`needed` of the :attr:`required` parts must match and the
    :attr:`optional` ones add to the score; when that finds nothing, engines retry
    with any required part, each alternative needing only :meth:`loosely` many of
    its tokens. A CJK run without synonyms is one part that needs all its bigrams,
    so ``二次函数`` finds documents containing ``二次``, ``次函`` and ``函数``.
    """

    parts: tuple[Part, ...]
    #: Bigram sequences of the query's longer CJK runs, for a phrase boost.
    phrases: tuple[tuple[str, ...], ...] = ()

    @property
    def required(self) -> tuple[Part, ...]:
        """The parts a document must match when every part should: all but those
        naming a kind of material, unless the query names nothing else."""
        topical = tuple(part for part in self.parts if not part.kind)
        return topical or self.parts

    def needed(self, *, conjunction: bool, relaxed: bool) -> int:
        """How many :attr:`required` parts a document must match.

        :param conjunction: false for the fallback, which takes any of them.
        :param relaxed: all but one of three or more are then enough, as a
            teacher's longer query often holds a word a good resource does not
            (``present perfect tense``); engines rank those with every part first.
            Searches sorted by date or downloads, which cannot rank them so, need
            every part.
        """
        count = len(self.required)
        if not conjunction:
            return min(count, 1)
        return count - 1 if relaxed and count >= 3 else count

    @staticmethod
    def loosely(alternative: tuple[str, ...]) -> int:
        """How many tokens of an alternative the fallback needs: all but one of three
        or more, so that a run typed across punctuation (论语十二章 for 《论语》十二章,
        whose 语十 is no pair of the title) still finds it."""
        return len(alternative) - 1 if len(alternative) >= 3 else len(alternative)

    @property
    def optional(self) -> tuple[Part, ...]:
        """The parts that only rank: those not :attr:`required`."""
        required = self.required
        return tuple(part for part in self.parts if part not in required)

    @property
    def tokens(self) -> frozenset[str]:
        """Every token of every alternative (prefix tokens keep their mark)."""
        return frozenset(
            token
            for part in self.parts
            for alternative in part.alternatives
            for token in alternative
        )

    @property
    def terms(self) -> frozenset[str]:
        """Every token of every alternative as text, for highlighting."""
        return frozenset(token.removesuffix(PREFIX_MARK) for token in self.tokens)

    def __bool__(self) -> bool:
        return bool(self.parts)


def _atoms(text: str) -> Iterator[tuple[str, int]]:
    """Yield (atom, run number): every CJK character, every word (its indexed form)."""
    for run_number, (piece, is_cjk) in enumerate(_pieces(text)):
        if is_cjk:
            for char in piece:
                yield char, run_number
        else:
            word = word_form(piece)
            if word:
                yield word, -1 - run_number


def plan_query(text: str, synonyms: Synonyms | None = None) -> QueryPlan:
    """Analyse a user's query text into a :class:`QueryPlan`.

    CJK atoms are single characters whose run number is >= 0; words have negative run
    numbers. A query of one CJK character asks for any token starting with it (it is
    indexed alone only where it stands alone, else inside bigrams). A synonym found
    inside a CJK run splits it: ``高中数学`` asks for ``高中`` and (``数学`` or
    ``math`` or ``mathematics``); the bigram ``中数`` across the split is not
    required, and a character left alone between synonyms is ignored.
    """
    atoms = list(_atoms(text[:MAX_QUERY_CHARS]))
    texts = [atom for atom, _ in atoms]
    run_sizes: dict[int, int] = {}
    for _, run in atoms:
        run_sizes[run] = run_sizes.get(run, 0) + 1

    parts: list[Part] = []
    segment: list[str] = []
    segment_run = -1

    def flush() -> None:
        if len(segment) > 1:
            run = "".join(segment)
            parts.append(Part((tuple(bigrams(run)),), pinyin=pinyin_keys(run)))
        elif segment and run_sizes[segment_run] == 1:
            parts.append(Part(((segment[0] + PREFIX_MARK,),)))
        segment.clear()

    i = 0
    while i < len(atoms):
        atom, run = atoms[i]
        if synonyms is not None and (found := synonyms.match(texts, i)) is not None:
            flush()
            size, group = found
            parts.append(
                Part(synonyms.alternatives(group), kind=synonyms.is_kind(group))
            )
            i += size
            continue

        if run < 0:
            flush()
            edits = fuzziness(atom)
            parts.append(Part(((atom,),), fuzzy=(atom, edits) if edits else None))
        else:
            if segment and run != segment_run:
                flush()
            segment.append(atom)
            segment_run = run
        i += 1
    flush()

    kept: list[Part] = []
    budget = MAX_QUERY_TOKENS
    for part in parts:
        size = sum(len(alternative) for alternative in part.alternatives)
        if part in kept:
            continue
        if size > budget:
            # A long run of characters is cut; a synonym group is not.
            if len(part.alternatives) == 1 and budget > 0:
                kept.append(Part((part.alternatives[0][:budget],), part.pinyin))
            break
        kept.append(part)
        budget -= size

    phrases: list[tuple[str, ...]] = []
    for run, size in run_sizes.items():
        if run >= 0 and size > 2:
            run_text = "".join(atom for atom, r in atoms if r == run)
            phrases.append(tuple(bigrams(run_text))[: MAX_QUERY_TOKENS // 4])
    return QueryPlan(tuple(kept), tuple(phrases[:4]))


# ------------------------------------------------------------------------- highlights


def _normalized_with_offsets(text: str) -> tuple[str, list[int] | None]:
    """Normalise *text* for matching; return it and, when lengths changed, a map from
    each normalised character to its original position (``None`` means identity)."""
    folded = text.lower() if _COMPAT_RE.search(text) is None else normalize(text)
    if len(folded) == len(text):
        return folded, None

    pieces: list[str] = []
    origin: list[int] = []
    for position, char in enumerate(text):
        piece = normalize(char)
        pieces.append(piece)
        origin.extend([position] * len(piece))
    return "".join(pieces), origin


#: Matches looked at per text: enough to find a good window, bounded for long texts.
MAX_HIGHLIGHT_MATCHES = 256


class Highlighter:
    """Builds HTML snippets of texts around a query's terms.

    Terms are looked up with :meth:`str.find`, which beats one regular expression
    over the text for the handful of terms a query has.
    """

    def __init__(self, terms: Collection[str]) -> None:
        self._cjk = sorted(t for t in terms if _CJK_CHAR_RE.match(t))
        self._words = frozenset(t for t in terms if t and not _CJK_CHAR_RE.match(t))
        # A word is found by its start and checked whole afterwards: "studies" does
        # not start with its form "study", but does with "stud".
        self._heads = sorted({w[:-1] if len(w) > 3 else w for w in self._words})

    def __bool__(self) -> bool:
        return bool(self._cjk or self._heads)

    def spans(self, folded: str) -> list[tuple[int, int, str]]:
        """(start, end, term) of the terms found in a normalised text."""
        spans: set[tuple[int, int, str]] = set()
        for term in self._cjk:
            position = folded.find(term)
            while position >= 0 and len(spans) < MAX_HIGHLIGHT_MATCHES:
                spans.add((position, position + len(term), term))
                position = folded.find(term, position + 1)

        for head in self._heads:
            position = folded.find(head)
            while position >= 0 and len(spans) < 2 * MAX_HIGHLIGHT_MATCHES:
                found = self._word_at(folded, position)
                if found is not None:
                    spans.add(found)
                position = folded.find(head, position + 1)
        return sorted(spans)

    def _word_at(self, folded: str, position: int) -> tuple[int, int, str] | None:
        """The span of the word starting at *position* when its form is a term."""
        if position > 0 and _WORD_RE.match(folded, position - 1) is not None:
            return None  # inside a word
        word = _WORD_RE.match(folded, position)
        if word is None:
            return None
        form = word_form(word.group())
        if form not in self._words:
            return None
        end = word.end()
        if folded[end - 2 : end] in ("'s", "\u2019s"):
            end -= 2
        return position, end, form

    def __call__(self, text: str, max_chars: int = 120) -> str | None:
        """An HTML snippet of *text* around the terms, or ``None`` without a match.

        Matches are wrapped in ``<em>``…``</em>`` and everything else is escaped.
        Texts longer than *max_chars* are cut to the window with the most distinct
        terms, and an ellipsis marks each cut.
        """
        if not text or not self:
            return None

        folded, origin = _normalized_with_offsets(text)
        spans = self.spans(folded)
        if not spans:
            return None

        if origin is not None:
            # Map normalised offsets back to the original text.
            origin.append(len(text))
            spans = [(origin[s], origin[e - 1] + 1, t) for s, e, t in spans]

        start, end = (0, len(text))
        if len(text) > max_chars:
            start, end = _best_window(spans, len(text), max_chars)

        # Merge overlapping or touching matches inside the window.
        merged: list[list[int]] = []
        for s, e, _ in spans:
            s, e = max(s, start), min(e, end)
            if s >= e:
                continue
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])

        out: list[str] = ["…" if start > 0 else ""]
        cursor = start
        for s, e in merged:
            out.append(html.escape(text[cursor:s]))
            out.append(f"<em>{html.escape(text[s:e])}</em>")
            cursor = e
        out.append(html.escape(text[cursor:end]))
        out.append("…" if end < len(text) else "")
        return "".join(out)


def _best_window(
    spans: Sequence[tuple[int, int, str]], length: int, size: int
) -> tuple[int, int]:
    """The window of *size* characters holding the most distinct terms."""
    best_start, best_score = spans[0][0], 0
    for i, (start, _, _) in enumerate(spans[:64]):
        seen = {term for _, e, term in spans[i : i + 32] if e <= start + size}
        if len(seen) > best_score:
            best_start, best_score = start, len(seen)

    # Show some context before the first match, without running past the end.
    start = max(0, min(best_start - size // 5, length - size))
    return start, min(length, start + size)


def highlight(text: str, terms: Collection[str], max_chars: int = 120) -> str | None:
    """One-off :class:`Highlighter` call: a snippet of *text* around *terms*."""
    return Highlighter(terms)(text, max_chars)


# ------------------------------------------------------------------------ suggestions


def compact(text: str) -> str:
    """Normalised letters, digits and CJK characters of *text*, without separators."""
    joined = "".join(piece for piece, _ in _pieces(text))
    return joined.replace("'", "").replace("\u2019", "")


#: Longest run of syllables whose pinyin :func:`pinyin_words` indexes as one word.
PINYIN_WORD_SYLLABLES = 4


def _syllables(run: str) -> list[str] | None:
    """The toneless pinyin of a CJK run, one syllable per character, read in
    context; ``None`` when a character has none (kana, rare characters)."""
    from pypinyin import Style, lazy_pinyin  # imported late: large dictionaries

    syllables = lazy_pinyin(run, style=Style.NORMAL, errors="ignore")
    return syllables if len(syllables) == len(run) else None


def pinyin_words(text: str, *, initials: bool = True) -> list[str]:
    """Pinyin that finds *text* typed without its characters: for every run of two
    to :data:`PINYIN_WORD_SYLLABLES` Han characters, its full pinyin (``gougudingli``
    for 勾股定理, ``tangshi`` in 唐诗三百首) and, unless *initials* is false, its
    initials (``sx`` for 数学).

    Runs of Han characters are read in context, like :func:`suggest_keys`; single
    syllables are left out, as they would match too much.
    """
    words: dict[str, None] = {}
    for piece, is_cjk in _pieces(text):
        syllables = _syllables(piece) if is_cjk else None
        if syllables is None:
            continue
        for size in range(2, PINYIN_WORD_SYLLABLES + 1):
            for start in range(len(syllables) - size + 1):
                window = syllables[start : start + size]
                words["".join(window)] = None
                if initials:
                    words["".join(syllable[0] for syllable in window)] = None
    return list(words)


#: CJK runs of a query this long are also looked up by their pinyin; two
#: characters share their pinyin with too many other words to be worth it (物理
#: and 无理 are both ``wuli``), and a pasted paragraph is no misspelt word.
PINYIN_QUERY_CHARS = range(3, 13)


def pinyin_keys(run: str) -> tuple[str, ...]:
    """What a query's CJK *run* sounds like, as words of :func:`pinyin_words`:
    its full pinyin when it is up to :data:`PINYIN_WORD_SYLLABLES` characters long,
    else that of every window of as many characters. A title holding the run, or
    a homophone of it, holds them all. Empty for runs outside
    :data:`PINYIN_QUERY_CHARS` and runs with a character without pinyin."""
    if len(run) not in PINYIN_QUERY_CHARS:
        return ()
    syllables = _syllables(run)
    if syllables is None:
        return ()
    size = min(len(syllables), PINYIN_WORD_SYLLABLES)
    windows = (syllables[i : i + size] for i in range(len(syllables) - size + 1))
    return tuple(dict.fromkeys("".join(window) for window in windows))


#: Latin words of at least this many letters may be misspelt by one edit ...
FUZZY_MIN_CHARS = 4
#: ... and from this many letters on, by two.
FUZZY_TWO_EDITS_CHARS = 8


def fuzziness(word: str) -> int:
    """How many edits (insertions, deletions, substitutions, transpositions) a
    term may be from the query *word* and still match it: none for short words
    and words that are not all Latin letters, then one, then two."""
    if len(word) < FUZZY_MIN_CHARS or not _LATIN_WORD_RE.fullmatch(word):
        return 0
    return 1 if len(word) < FUZZY_TWO_EDITS_CHARS else 2


def suggest_keys(title: str) -> tuple[set[str], set[str]]:
    """Keys under which a title is suggested: (keys it starts with, keys it contains).

    For ``PPT 数学课件`` the start keys are the compact text ``ppt数学课件``, its full
    pinyin ``pptshuxuekejian`` and its initials ``pptsxkj``; the contained keys are
    their suffixes at every character or syllable, so that ``sx`` and ``数学`` find
    it as well. Engines match a typed prefix against these keys.
    """
    from pypinyin import lazy_pinyin  # imported late: it loads large dictionaries

    # Suffixes at every CJK character and at every word start.
    chunks: list[str] = []
    starts: list[int] = []
    length = 0
    for piece, is_cjk in _pieces(title):
        piece = piece.replace("'", "").replace("\u2019", "")
        starts.extend(range(length, length + len(piece)) if is_cjk else [length])
        chunks.append(piece)
        length += len(piece)
    text = "".join(chunks)[:MAX_SUGGEST_CHARS]
    if not text:
        return set(), set()
    contained = {text[i:] for i in starts if i < len(text)}

    # Han characters become pinyin syllables, read in context (银行 is yinhang, not
    # yinxing); other chunks (words, kana, unknown characters) come back unchanged
    # and are their own initials.
    syllables: list[str] = []
    initials: list[str] = []
    position = 0
    for element in lazy_pinyin(text):
        if text.startswith(element, position):
            syllables.append(element)
            initials.append(element)
            position += len(element)
        else:
            syllables.append(element)
            initials.append(element[:1])
            position += 1

    head = {text}
    for parts in (syllables, initials):
        joined = "".join(parts)
        head.add(joined)
        offset = 0
        for part in parts:
            contained.add(joined[offset:])
            offset += len(part)
    contained |= head
    return head, {key for key in contained if key}
