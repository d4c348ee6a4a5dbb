"""Kejian's controlled vocabularies, the textbook catalogue and its chapter trees.

The data is ``config/vocabularies.json``, written by ``scripts/build_vocabularies.py``
(change the tables there and rebuild; do not edit the JSON by hand). Read it with
:func:`load_vocabularies`, which checks it once and caches it for the process.

Every term has a stable ASCII ``code``, a Chinese and an English label, and may carry
aliases (other spellings, such as the catalogue's ``人教版-人民教育出版社``).
:meth:`Vocabularies.resolve` turns any of them into the code, so that imported
metadata may say ``数学``, ``Mathematics`` or ``math``.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).with_name("vocabularies.json")
KINDS = (
    "stages",
    "grades",
    "subjects",
    "editions",
    "volumes",
    "resource_types",
    "licences",
    "languages",
)
LANGS = ("zh", "en")
BOOK_KINDS = ("student", "workbook", "teacher", "reader")

#: Resource metadata fields that hold a vocabulary code, and the vocabulary of each.
#: The API validates them, search documents label them and facets are named by them.
FIELD_KINDS: dict[str, str] = {
    "stage": "stages",
    "grade": "grades",
    "subject": "subjects",
    "edition": "editions",
    "volume": "volumes",
    "resource_type": "resource_types",
    "licence": "licences",
    "language": "languages",
}


@dataclass(frozen=True)
class Term:
    """One entry of a vocabulary; ``extra`` holds its other fields (``stage``,
    ``publisher_zh``, ``url``, ``aliases`` ...) as the JSON gives them."""

    code: str
    zh: str
    en: str
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def label(self, lang: str = "zh") -> str:
        return self.en if _check_lang(lang) == "en" else self.zh

    def names(self) -> Iterator[str]:
        """Every spelling :meth:`Vocabularies.resolve` accepts for this term."""
        yield from (self.code, self.zh, self.en, *self.extra.get("aliases", ()))


@dataclass(frozen=True)
class Textbook:
    """A book of the catalogue. ``grade`` is set when the book is for one grade;
    ``grades`` lists all it covers (``g1``, ``g2`` for 1至2年级, none in 高中)."""

    key: str
    stage: str
    subject: str
    edition: str
    grade: str | None
    grades: tuple[str, ...]
    volume: str | None
    kind: str
    title: str


@dataclass(frozen=True)
class ChapterNode:
    code: str
    title: str
    children: tuple[ChapterNode, ...] = ()

    def walk(self) -> Iterator[ChapterNode]:
        """This node and all nodes below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


def normalize(value: str) -> str:
    """The form in which labels are compared: NFKC (full-width brackets and colons
    become ASCII), case-folded, runs of whitespace made one space."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    return lang


def _term(row: Mapping[str, Any]) -> Term:
    extra = {k: v for k, v in row.items() if k not in ("code", "zh", "en")}
    return Term(str(row["code"]), str(row["zh"]), str(row["en"]), extra)


def _textbook(row: Mapping[str, Any]) -> Textbook:
    return Textbook(
        key=row["key"],
        stage=row["stage"],
        subject=row["subject"],
        edition=row["edition"],
        grade=row.get("grade"),
        grades=tuple(row.get("grades", ())),
        volume=row.get("volume"),
        kind=row.get("kind", "student"),
        title=row["title"],
    )


def _node(row: Mapping[str, Any]) -> ChapterNode:
    children = tuple(_node(child) for child in row.get("children", ()))
    return ChapterNode(str(row.get("code", "")), str(row.get("title", "")), children)


class Vocabularies:
    """Read access to the vocabularies document (the parsed JSON)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version: int = data.get("version", 0)
        self._missing = [kind for kind in KINDS if not data.get(kind)]
        self._terms = {
            kind: tuple(_term(row) for row in data.get(kind, ())) for kind in KINDS
        }
        self._labels: dict[tuple[str, str], dict[str, str]] = {}
        self._by_code = {
            kind: {term.code: term for term in terms}
            for kind, terms in self._terms.items()
        }

        # Every spelling of every term, normalized; one shared by two terms of a
        # kind is ambiguous, so resolve() refuses it and validate() reports it.
        self._names: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
        self._ambiguous: dict[str, set[str]] = {kind: set() for kind in KINDS}
        for kind, terms in self._terms.items():
            for term in terms:
                for name in term.names():
                    key = normalize(name)
                    if self._names[kind].setdefault(key, term.code) != term.code:
                        self._ambiguous[kind].add(key)

        self._textbooks = tuple(_textbook(row) for row in data.get("textbooks", ()))
        self._textbook_by_key = {book.key: book for book in self._textbooks}
        self._chapters = [
            (entry["textbook"], tuple(_node(node) for node in entry["nodes"]))
            for entry in data.get("chapters", ())
        ]
        self._trees = dict(self._chapters)

    # --- Terms --------------------------------------------------------------------

    def terms(self, kind: str) -> list[Term]:
        """The terms of ``kind`` (one of :data:`KINDS`) in their display order."""
        return list(self._terms[self._check_kind(kind)])

    def term(self, kind: str, code: str) -> Term | None:
        return self._by_code[self._check_kind(kind)].get(code)

    def labels(self, kind: str, lang: str = "zh") -> dict[str, str]:
        """Every code of ``kind`` with its label: for labelling many values at once."""
        key = (self._check_kind(kind), lang)
        labels = self._labels.get(key)
        if labels is None:
            terms = self._by_code[kind].values()
            labels = self._labels[key] = {t.code: t.label(lang) for t in terms}
        return labels

    def label(self, kind: str, code: str, lang: str = "zh") -> str:
        """The label of a code; raises :class:`KeyError` for an unknown code."""
        term = self.term(kind, code)
        if term is None:
            raise KeyError(f"{code!r} is not a code of {kind}")
        return term.label(lang)

    def is_valid(self, kind: str, code: str) -> bool:
        """True if ``code`` is a code (not merely a label) of ``kind``."""
        return code in self._by_code[self._check_kind(kind)]

    def resolve(self, kind: str, value: str | None) -> str | None:
        """The code that ``value`` names: a code, the Chinese or English label or an
        alias, compared without regard to case, width or extra spaces. None when
        nothing, or more than one term, matches."""
        self._check_kind(kind)
        if value is None or not value.strip():
            return None

        key = normalize(value)
        if key in self._ambiguous[kind]:
            return None
        return self._names[kind].get(key)

    # --- Textbooks and chapters -----------------------------------------------------

    def textbooks(
        self,
        *,
        stage: str | None = None,
        subject: str | None = None,
        edition: str | None = None,
        grade: str | None = None,
    ) -> list[Textbook]:
        """Textbooks in catalogue order, narrowed by any of the given codes."""
        return [
            book
            for book in self._textbooks
            if (stage is None or book.stage == stage)
            and (subject is None or book.subject == subject)
            and (edition is None or book.edition == edition)
            and (grade is None or grade in book.grades)
        ]

    def textbook(self, key: str) -> Textbook | None:
        return self._textbook_by_key.get(key)

    def chapter_textbooks(self) -> list[str]:
        """Keys of the textbooks that have a chapter tree."""
        return list(self._trees)

    def chapter_tree(self, textbook_key: str) -> list[ChapterNode]:
        """Top-level chapter nodes of a textbook; empty when it has no tree.
        Raises :class:`KeyError` for an unknown textbook key."""
        if textbook_key not in self._textbook_by_key:
            raise KeyError(f"{textbook_key!r} is not a textbook key")
        return list(self._trees.get(textbook_key, ()))

    # --- Whole document -----------------------------------------------------------

    def as_json(self, lang: str = "zh") -> dict[str, Any]:
        """Every vocabulary with labels in ``lang``, for the API: ``{"version",
        "lang", <kind>: [{"code", "label", ...other fields}]}`` without aliases."""
        _check_lang(lang)
        document: dict[str, Any] = {"version": self.version, "lang": lang}
        for kind, terms in self._terms.items():
            document[kind] = [
                {"code": t.code, "label": t.label(lang)}
                | {k: v for k, v in t.extra.items() if k != "aliases"}
                for t in terms
            ]
        return document

    def validate(self) -> None:
        """Check that the document is consistent; raise :class:`ValueError` listing
        what is wrong: duplicate codes, ambiguous labels, references to unknown
        stages, grades, subjects, editions, volumes or textbooks, malformed chapter
        trees."""
        problems = [f"{kind} is missing or empty" for kind in self._missing]
        for kind, terms in self._terms.items():
            for code, count in Counter(t.code for t in terms).items():
                if count > 1:
                    problems.append(f"{kind}: code {code!r} is used {count} times")
            problems += [
                f"{kind}: {t.code!r} lacks a zh or en label"
                for t in terms
                if not (t.code and t.zh.strip() and t.en.strip())
            ]
            problems += [
                f"{kind}: {name!r} names more than one term"
                for name in sorted(self._ambiguous[kind])
            ]

        problems += self._reference_problems()
        problems += self._textbook_problems()
        problems += self._chapter_problems()
        if problems:
            shown = "; ".join(problems[:10])
            more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
            raise ValueError(f"vocabularies are inconsistent: {shown}{more}")

    def _reference_problems(self) -> list[str]:
        references = []  # (where, field, kind it refers to, code or None)
        for t in self._terms["grades"]:
            references.append(
                (f"grade {t.code!r}", "stage", "stages", t.extra.get("stage", ""))
            )
        for t in self._terms["stages"]:
            where = f"stage {t.code!r}"
            references.append(
                (where, "variant_of", "stages", t.extra.get("variant_of"))
            )
            references += [
                (where, "grade", "grades", g) for g in t.extra.get("grades", ())
            ]
        for t in self._terms["subjects"]:
            where = f"subject {t.code!r}"
            references.append((where, "parent", "subjects", t.extra.get("parent")))
            references += [
                (where, "stage", "stages", s) for s in t.extra.get("stages", ())
            ]
        for book in self._textbooks:
            where = f"textbook {book.key!r}"
            references += [
                (where, "stage", "stages", book.stage),
                (where, "subject", "subjects", book.subject),
                (where, "edition", "editions", book.edition),
                (where, "grade", "grades", book.grade),
                (where, "volume", "volumes", book.volume),
                *((where, "grades", "grades", grade) for grade in book.grades),
            ]

        return [
            f"{where}: {field} {code!r} is not in {kind}"
            for where, field, kind, code in references
            if code is not None and not self.is_valid(kind, code)
        ]

    def _textbook_problems(self) -> list[str]:
        problems = [
            f"textbooks: key {key!r} is used {count} times"
            for key, count in Counter(b.key for b in self._textbooks).items()
            if count > 1
        ]
        for book in self._textbooks:
            if book.kind not in BOOK_KINDS:
                problems.append(f"textbook {book.key!r}: kind {book.kind!r} is unknown")
            if book.grade is not None and book.grades != (book.grade,):
                problems.append(f"textbook {book.key!r}: grade is not its only grade")
        return problems

    def _chapter_problems(self) -> list[str]:
        problems = []
        for key, count in Counter(key for key, _ in self._chapters).items():
            if key not in self._textbook_by_key:
                problems.append(f"chapters: {key!r} is not a textbook key")
            if count > 1:
                problems.append(f"chapters: {key!r} has {count} trees")

        for key, roots in self._chapters:
            if not roots:
                problems.append(f"chapters of {key!r}: the tree is empty")
            nodes = [node for root in roots for node in root.walk()]
            for code, count in Counter(node.code for node in nodes).items():
                if count > 1:
                    problems.append(f"chapters of {key!r}: code {code!r} is repeated")
            problems += [
                f"chapters of {key!r}: node {node.code!r} lacks a code or title"
                for node in nodes
                if not (node.code.strip() and node.title.strip())
            ]
        return problems

    def _check_kind(self, kind: str) -> str:
        if kind not in self._terms:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        return kind


@lru_cache(maxsize=4)
def _load(path: Path) -> Vocabularies:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} does not exist; build it with scripts/build_vocabularies.py"
        ) from None

    vocabularies = Vocabularies(data)
    vocabularies.validate()
    return vocabularies


def load_vocabularies(path: Path | None = None) -> Vocabularies:
    """The vocabularies at ``path`` (default: ``config/vocabularies.json``), read and
    validated once per process. Raises :class:`ValueError` if they are inconsistent.
    """
    return _load(Path(path or DEFAULT_PATH).resolve())
