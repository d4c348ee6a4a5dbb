"""The catalogue as Chinese teachers walk it: 学段 → 学科 → 教材版本 → 年级·册 → 章节.

Each step lists every entry the vocabularies and the textbook catalogue know at that
place, each with the number of resources the asker may see there. The numbers are the
search engine's facet counts under the asker's access tokens (through
:func:`repo_app.services.search.search`), so they agree with what the search page
finds for the same filters. Entries with nothing are listed too, marked by their count
of 0: the gaps of the collection are what teachers and the city need to see.

A place is named by a path of codes: ``stage``, ``stage/subject``,
``stage/subject/edition`` (its books) and ``stage/subject/edition/grade/volume`` (a
book's chapters), where a book without a grade (高中 books are named by their volume
alone) or without a volume has ``-`` for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from config.vocabularies import Textbook, Vocabularies
from repo_app.errors import NotFound
from repo_app.extensions import db
from repo_app.models import ChapterNode
from repo_app.runtime import runtime
from repo_app.security import Principal
from repo_app.services import search

#: The metadata field named by each step of a path, in order.
PATH_FIELDS = ("stage", "subject", "edition", "grade", "volume")
#: What a path of each length lists; a book's path names both grade and volume.
LEVELS = {0: "stages", 1: "subjects", 2: "editions", 3: "books", 5: "chapters"}
#: Stands for "no grade" (or "no volume") in a path: books of 高中 have a volume only.
NO_GRADE = "-"

Filters = dict[str, list[str]]


@dataclass
class Node:
    """One entry of a step: a stage, subject, edition, book or chapter."""

    #: The code of the entry (a book: its catalogue key; a chapter: its id).
    code: str
    #: The resources the asker may see there.
    count: int
    #: The search filters that select its resources.
    filters: Filters
    #: The browse path of the step below it; ``None`` for a chapter.
    path: str | None = None
    #: The search facet the code belongs to (``stage``, ``subject``, ``edition``,
    #: ``chapter``), or ``book``.
    facet: str = ""
    #: A book's catalogue title, a chapter's title.
    title: str = ""
    #: A book's grade and volume codes.
    grade: str | None = None
    volume: str | None = None
    children: list[Node] = field(default_factory=list)

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Step:
    """What one browse page shows: where the visitor is and what lies below."""

    #: ``stages``, ``subjects``, ``editions``, ``books`` or ``chapters``.
    level: str
    #: The codes of the path, as (field, code) pairs, from the stage down.
    trail: list[tuple[str, str]]
    #: Resources the asker may see at this place, and the filters selecting them.
    count: int
    filters: Filters
    nodes: list[Node]
    #: For the chapter step: the catalogue's book (``nodes`` are its chapters).
    book: Textbook | None = None
    #: Chapters (the leaves) with no resource, and all of them.
    empty_chapters: int = 0
    chapters: int = 0


def step(principal: Principal, path: str) -> Step:
    """The step at *path* (``""`` for the top), counted for *principal*.

    :raises NotFound: when a code of the path is not in the vocabularies, or the
        path is longer than a book's.
    :raises SearchUnavailable: when the search engine cannot be reached.
    """
    parts = [p for p in path.split("/") if p] if path else []
    level = LEVELS.get(len(parts))
    if level is None:
        raise NotFound("There is no such place in the catalogue.")
    vocab = runtime().vocab
    trail = _check_path(vocab, parts)
    filters: Filters = {name: [code] for name, code in trail if code != NO_GRADE}

    if level == "stages":
        return _terms_step(principal, vocab, trail, filters, "stage", _stages(vocab))
    if level == "subjects":
        return _terms_step(
            principal, vocab, trail, filters, "subject", _subjects(vocab, parts[0])
        )
    if level == "editions":
        books = vocab.textbooks(stage=parts[0], subject=parts[1])
        editions = list(dict.fromkeys(book.edition for book in books))
        return _terms_step(principal, vocab, trail, filters, "edition", editions)
    if level == "books":
        return _books_step(principal, vocab, trail, filters)
    return _chapters_step(principal, vocab, trail, filters)


def _check_path(vocab: Vocabularies, parts: Sequence[str]) -> list[tuple[str, str]]:
    kinds = ("stages", "subjects", "editions", "grades", "volumes")
    trail = []
    for name, kind, code in zip(PATH_FIELDS, kinds, parts, strict=False):
        known = vocab.is_valid(kind, code) or (
            name in ("grade", "volume") and code == NO_GRADE
        )
        if not known:
            raise NotFound(f"{code!r} is not a {name} of the catalogue.")
        trail.append((name, code))
    return trail


def _stages(vocab: Vocabularies) -> list[str]:
    return [term.code for term in vocab.terms("stages")]


def _subjects(vocab: Vocabularies, stage: str) -> list[str]:
    term = vocab.term("stages", stage)
    # A 五四制 stage teaches the subjects of the stage it is a variant of.
    stages = {stage, term.extra.get("variant_of") if term else None} - {None}
    return [
        t.code
        for t in vocab.terms("subjects")
        if stages & set(t.extra.get("stages", ()))
    ]


def _counts(
    principal: Principal, filters: Filters, facets: Sequence[str]
) -> tuple[int, dict[str, dict[str, int]]]:
    """The total and the facet counts of the resources *filters* select."""
    result = search.search(
        principal,
        text="",
        # The service rewrites labels to codes in place: give it copies.
        filters={name: list(values) for name, values in filters.items()},
        facets=list(facets),
        sort="newest",
        page=1,
        per_page=0,
    )
    counts = {
        name: {v["value"]: v["count"] for v in values}
        for name, values in result["facets"].items()
    }
    return result["total"], counts


def _terms_step(
    principal: Principal,
    vocab: Vocabularies,
    trail: list[tuple[str, str]],
    filters: Filters,
    name: str,
    codes: Iterable[str],
) -> Step:
    total, counts = _counts(principal, filters, [name])
    found = counts.get(name, {})
    kind = {"stage": "stages", "subject": "subjects", "edition": "editions"}[name]
    # Resources may carry a code the catalogue does not expect here (a subject
    # outside its usual stages): they are listed after the expected ones.
    listed = list(
        dict.fromkeys([*codes, *(c for c in found if vocab.is_valid(kind, c))])
    )
    prefix = "/".join(code for _, code in trail)
    nodes = [
        Node(
            code=code,
            count=found.get(code, 0),
            filters={**filters, name: [code]},
            path=f"{prefix}/{code}".lstrip("/"),
            facet=name,
        )
        for code in listed
    ]
    return Step(LEVELS[len(trail)], trail, total, filters, nodes)


def _books_step(
    principal: Principal,
    vocab: Vocabularies,
    trail: list[tuple[str, str]],
    filters: Filters,
) -> Step:
    stage, subject, edition = (code for _, code in trail)
    books = _distinct_books(
        vocab.textbooks(stage=stage, subject=subject, edition=edition)
    )
    total, counts = _counts(principal, filters, ["grade", "volume"])
    by_grade = counts.get("grade", {})

    # Facets count one field at a time; a grade's volumes need that grade as a
    # filter, so each grade that has resources is counted once more.
    volumes_of: dict[str | None, dict[str, int]] = {None: counts.get("volume", {})}
    for grade in dict.fromkeys(book.grade for book in books if book.grade):
        if by_grade.get(grade):
            volumes_of[grade] = _counts(
                principal, {**filters, "grade": [grade]}, ["volume"]
            )[1].get("volume", {})

    nodes = []
    for book in books:
        node_filters = dict(filters)
        if book.grade:
            node_filters["grade"] = [book.grade]
        if book.volume:
            node_filters["volume"] = [book.volume]
        if book.volume:
            count = volumes_of.get(book.grade, {}).get(book.volume, 0)
        else:
            count = by_grade.get(book.grade or "", 0)
        parts = [
            stage,
            subject,
            edition,
            book.grade or NO_GRADE,
            book.volume or NO_GRADE,
        ]
        nodes.append(
            Node(
                code=book.key,
                count=count,
                filters=node_filters,
                path="/".join(parts),
                facet="book",
                title=book.title,
                grade=book.grade,
                volume=book.volume,
            )
        )
    return Step("books", trail, total, filters, nodes)


def _distinct_books(books: Sequence[Textbook]) -> list[Textbook]:
    """One book per grade and volume: resources do not say whether they go with
    the student's book or its workbook. A book with a chapter list is preferred,
    then the student's book."""
    trees = set(runtime().vocab.chapter_textbooks())
    chosen: dict[tuple[str | None, str | None], Textbook] = {}
    for book in books:
        key = (book.grade, book.volume)
        held = chosen.get(key)
        if held is None or _book_rank(book, trees) < _book_rank(held, trees):
            chosen[key] = book
    return list(chosen.values())


def _book_rank(book: Textbook, trees: set[str]) -> tuple[bool, bool]:
    return (book.key not in trees, book.kind != "student")


def _chapters_step(
    principal: Principal,
    vocab: Vocabularies,
    trail: list[tuple[str, str]],
    filters: Filters,
) -> Step:
    stage, subject, edition, grade, volume = (code for _, code in trail)
    books = vocab.textbooks(stage=stage, subject=subject, edition=edition)
    matching = [
        b
        for b in books
        if (b.grade or NO_GRADE) == grade and (b.volume or NO_GRADE) == volume
    ]
    if not matching:
        raise NotFound("The catalogue has no such book.")
    book = _distinct_books(matching)[0]

    total, counts = _counts(principal, filters, ["chapter"])
    by_chapter = counts.get("chapter", {})
    roots = _chapter_nodes(book.key, filters, by_chapter)
    # A unit counts the resources of its own and of its lessons; a resource filed
    # under two lessons counts once, so this is one more count per unit.
    for root in roots:
        if root.children and total:
            root.count = _counts(principal, root.filters, [])[0]

    leaves = [node for root in roots for node in root.walk() if not node.children]
    return Step(
        "chapters",
        trail,
        total,
        filters,
        roots,
        book=book,
        empty_chapters=sum(1 for leaf in leaves if leaf.count == 0),
        chapters=len(leaves),
    )


def _chapter_nodes(
    textbook: str, filters: Filters, counts: dict[str, int]
) -> list[Node]:
    """The book's chapter tree from the database (``kejian demo`` loads it from the
    vocabularies), each node counted; a unit's filters take in its lessons."""
    rows = db.session.scalars(
        select(ChapterNode)
        .where(ChapterNode.textbook == textbook)
        .order_by(ChapterNode.position, ChapterNode.id)
    ).all()
    nodes = {
        row.id: Node(
            code=str(row.id),
            count=counts.get(str(row.id), 0),
            filters={**filters, "chapter": [str(row.id)]},
            facet="chapter",
            title=row.title,
        )
        for row in rows
    }
    parents = {row.id: row.parent_id for row in rows}
    roots = []
    for row in rows:
        node = nodes[row.id]
        if row.parent_id not in nodes:
            roots.append(node)
            continue
        nodes[row.parent_id].children.append(node)
        # Every unit above takes the node into its filter (at most as many steps up
        # as there are rows, should the data ever hold a cycle).
        above: int | None = row.parent_id
        for _ in rows:
            if above not in nodes:
                break
            nodes[above].filters["chapter"].append(node.code)
            above = parents[above]
    return roots
