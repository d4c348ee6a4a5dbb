"""What every engine does alike with documents, queries and results.

Engines receive engine-neutral documents and :class:`~indexer.engines.base.SearchQuery`
objects; the helpers here read them the same way everywhere (which values a keyword
field holds, how dates are normalised, which queries are refused) and shape what
comes back (facet order, highlight snippets, the key a suggestion prefix becomes), so
that two engines given the same input answer the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from indexer import analysis
from indexer.engines.base import (
    FACET_FIELDS,
    MAX_RESULT_WINDOW,
    SHOWN_FIELDS,
    SORTS,
    QueryError,
    SearchQuery,
)

#: Values returned per facet.
FACET_SIZE = 100
#: Extracted text kept (not indexed: all of it is) for highlighting.
STORED_TEXT_CHARS = 20_000
#: Snippet length of ``description`` and ``text``; titles come back whole.
SNIPPET_CHARS = 120
TITLE_SNIPPET_CHARS = 300
#: Boost of an exact run of the query's characters in a title, over the title's own.
PHRASE_BOOST = 2.0
#: Score of a near match (a homophone of a title's words, a misspelt word), the
#: same on every engine; an exact match of the same part scores more.
NEAR_BOOST = 0.5
#: Score added to a document that matches an optional part of the query (a kind of
#: material, see :attr:`indexer.analysis.QueryPlan.optional`) in :data:`KIND_FIELDS`:
#: more than any text score reaches, so that ``数学 课件`` lists the courseware on
#: maths first, then the rest on maths, each group in the order of its text score.
KIND_SCORE = 1000.0
#: Score added to a document with every word of a query that fewer words would
#: match: above the kind's, so that the order is every word and the kind, every
#: word, fewer words and the kind, fewer words.
EVERY_WORD_SCORE = 2 * KIND_SCORE
#: Where a word naming a kind of material counts: the title, the keywords and the
#: labels (the resource type's among them), not the description or the files' text,
#: whose 练习 and 作业 say nothing of what kind of material the resource is.
KIND_FIELDS = ("title", "keywords", "labels")
#: Fields in which a misspelt word is looked up: short ones, whose dictionaries
#: are small. The extracted text's holds most of the index's words, and walking it
#: with an edit-distance automaton would make every search several times slower.
FUZZY_FIELDS = ("title", "keywords", "labels")
#: Text fields that come back as highlight snippets, with their lengths.
SNIPPET_FIELDS: dict[str, int] = {
    "title": TITLE_SNIPPET_CHARS,
    "description": SNIPPET_CHARS,
    "text": SNIPPET_CHARS,
}


# --------------------------------------------------------------------- documents


def clean(value: str) -> str:
    """Drop what cannot be encoded as UTF-8 (lone surrogates)."""
    if value.isascii():
        return value
    return value.encode("utf-8", "replace").decode("utf-8")


def document_id(document: Mapping[str, Any]) -> str:
    """The document's ``id`` as text.

    :raises ValueError: when the document has none.
    """
    raw_id = document.get("id")
    if raw_id is None or str(raw_id) == "":
        raise ValueError("a search document needs an 'id'")
    return clean(str(raw_id))


def keyword_values(value: Any) -> list[str]:
    """A keyword field's values: one string, a list of them, or nothing."""
    if value is None:
        return []
    items = [value] if isinstance(value, str | int) else list(value)
    return [clean(str(item)) for item in items if item is not None and str(item) != ""]


def joined_text(value: Any) -> str:
    """A text field's content: one string or a list joined by line breaks."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return "\n".join(str(item) for item in value if item)


def utc_datetime(value: Any, name: str) -> dt.datetime | None:
    """A UTC datetime from a datetime (naive ones are UTC), a date or ISO text.

    :raises ValueError: for text that is not an ISO date.
    :raises TypeError: for any other type.
    """
    if value is None or value == "":
        return None

    moment: dt.datetime
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} is not an ISO date: {value!r}") from None
    else:
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def shown(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A hit's :attr:`~indexer.engines.base.Hit.shown` from what its engine stored:
    each field's first value, and the date as a UTC datetime to the second (the
    precision both engines keep alike)."""
    fields: dict[str, Any] = {}
    for name in SHOWN_FIELDS:
        value = stored.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        fields[name] = value if value != "" else None
    moment = utc_datetime(fields["updated_at"], "updated_at")
    fields["updated_at"] = moment.replace(microsecond=0) if moment else None
    return fields


def integer(value: Any, name: str) -> int:
    """A whole number from an int or its text; ``None`` is 0.

    :raises ValueError: for anything else.
    """
    if value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def title_pinyin(title: str) -> str:
    """The full pinyin of a title's words, joined by spaces, for the field that
    :attr:`indexer.analysis.Part.pinyin` is looked up in."""
    return " ".join(analysis.pinyin_words(clean(title), initials=False))


# ----------------------------------------------------------------------- queries


def check_query(query: SearchQuery) -> list[str]:
    """Validate what the caller asked for; return the facet fields to count.

    The cursor is only checked for its place (a list, with ``offset`` 0): what it
    holds depends on the engine that made it.

    :raises QueryError: naming what is wrong.
    """
    if query.sort not in SORTS:
        raise QueryError(f"unknown sort {query.sort!r}; use one of {', '.join(SORTS)}")

    for name, value in (("offset", query.offset), ("limit", query.limit)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise QueryError(f"{name} must be a non-negative integer, got {value!r}")
    if query.offset + query.limit > MAX_RESULT_WINDOW:
        raise QueryError(
            f"results can be paged up to {MAX_RESULT_WINDOW} (offset + limit); "
            "narrow the search with filters"
        )

    if query.search_after is not None:
        if isinstance(query.search_after, str | bytes) or not isinstance(
            query.search_after, Sequence
        ):
            raise QueryError("search_after must be the cursor of the page before")
        if query.offset:
            raise QueryError("search_after pages on from a cursor: offset must be 0")

    for name in ("date_from", "date_to"):
        moment = getattr(query, name)
        if moment is not None and not isinstance(moment, dt.datetime):
            raise QueryError(f"{name} must be a datetime, got {moment!r}")

    if not isinstance(query.text, str | None):
        raise QueryError("the search text must be a string")

    facets = [query.facets] if isinstance(query.facets, str) else list(query.facets)
    for name in [*facets, *query.filters]:
        if name not in FACET_FIELDS:
            raise QueryError(f"{name!r} cannot be filtered or counted")
    return list(dict.fromkeys(facets))


def access_tokens(acl: Sequence[str]) -> list[str]:
    """The asker's access tokens, cleaned, without duplicates, in a stable order."""
    if isinstance(acl, str):
        acl = [acl]
    return sorted({clean(str(token)) for token in acl if token})


def suggestion_key(prefix: str) -> str:
    """What a typed prefix is matched as against suggestion keys: its compact form
    (see :func:`indexer.analysis.suggest_keys`), letters, digits and CJK only."""
    key = analysis.compact(prefix or "")[: analysis.MAX_SUGGEST_CHARS]
    return "".join(char for char in key if char.isalnum())


# ----------------------------------------------------------------------- results


def facet_counts(pairs: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Facet values most frequent first, then by value."""
    return sorted(pairs, key=lambda pair: (-pair[1], pair[0]))


def highlights(
    highlighter: analysis.Highlighter, texts: Mapping[str, str | None]
) -> dict[str, str]:
    """Snippets of the :data:`SNIPPET_FIELDS` among *texts* that hold a match."""
    found: dict[str, str] = {}
    if not highlighter:
        return found

    for name, size in SNIPPET_FIELDS.items():
        text = texts.get(name)
        if not text:
            continue
        snippet = highlighter(text, size)
        if snippet is not None:
            found[name] = snippet
    return found
