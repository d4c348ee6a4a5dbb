"""Build the search document of a resource.

The document is engine-neutral (see :mod:`indexer.engines.base`): text fields for
matching, keyword fields for facets and filters, and the access tokens that decide who
may find it. Vocabulary codes are indexed as codes; their Chinese and English labels go
into ``labels`` so that searching 数学 or "mathematics" matches the subject too, with
the pinyin of the title's words (``gougudingli``, ``sx``) for those who type it.
"""

from __future__ import annotations

import re
from typing import Any

from config.vocabularies import FIELD_KINDS, Vocabularies
from indexer import analysis

#: Extracted text kept per resource in the index; longer texts are cut here, which
#: keeps documents small while covering the beginning of every file.
MAX_TEXT_CHARS = 400_000


_MIME_GROUPS = {
    "pdf": "pdf",
    "document": "document",
    "presentation": "presentation",
    "spreadsheet": "spreadsheet",
    "package": "package",
    "video": "video",
    "audio": "audio",
    "image": "image",
    "text": "text",
}
#: Every value of the ``mime_group`` field: a file of another kind is ``other``.
MIME_GROUPS = frozenset({*_MIME_GROUPS.values(), "other"})


def build_document(resource: Any, vocab: Vocabularies, acl: list[str]) -> dict[str, Any]:
    """Return the search document of *resource* (a :class:`repo_app.models.Resource`).

    :param acl: the access tokens of the resource in its current state.
    """
    owner = resource.owner_org
    chain = owner.ancestors()
    school = next((o for o in chain if o.kind.value == "school"), None)
    district = next((o for o in chain if o.kind.value == "district"), None)

    labels: list[str] = []
    for field_name, kind in FIELD_KINDS.items():
        if field_name == "language":  # "Chinese" would match every Chinese resource
            continue
        code = getattr(resource, field_name)
        if code:
            term = vocab.term(kind, code)
            if term is not None:
                labels.extend(term_labels(term))
    for chapter in resource.chapters:
        labels.append(chapter.title)
    labels.extend(o.name for o in chain)
    labels.extend(analysis.pinyin_words(resource.title))

    texts: list[str] = []
    used = 0
    files = resource.files
    for vf in files:
        if used >= MAX_TEXT_CHARS:
            break
        text = vf.blob.text or ""
        texts.append(text[: MAX_TEXT_CHARS - used])
        used += len(texts[-1])
    file_titles = [vf.blob.title for vf in files if vf.blob.title]
    file_names = [vf.name for vf in files]

    kinds = sorted({_MIME_GROUPS.get(vf.blob.kind, "other") for vf in files})
    return {
        "id": str(resource.id),
        "title": resource.title,
        "description": resource.description or "",
        "keywords": list(resource.keywords or []) + file_titles + file_names,
        "labels": labels,
        "text": "\n".join(texts),
        "stage": resource.stage,
        "grade": resource.grade,
        "subject": resource.subject,
        "edition": resource.edition,
        "volume": resource.volume,
        "chapter": [str(c.id) for c in resource.chapters],
        "resource_type": resource.resource_type,
        "licence": resource.licence,
        "language": resource.language,
        "owner_org": owner.code,
        "school": school.code if school else None,
        "district": district.code if district else None,
        "locality": owner.locality.value if owner.locality else None,
        "mime_group": kinds,
        "acl": acl,
        "status": resource.status.value,
        "visibility": resource.visibility.value,
        "created_at": resource.created_at,
        "updated_at": resource.updated_at,
        "downloads": resource.downloads,
    }


def term_labels(term: Any) -> list[str]:
    """The words a vocabulary *term* is found by: its Chinese and English labels and
    its :func:`spoken_aliases`. An edition "（三年级起点）" (English from grade 3)
    says 三起 instead, as teachers do: its grade 4 books are no answer to 三年级."""
    return [_STARTING_GRADE.sub(r"\1起", term.zh), term.en, *spoken_aliases(term)]


#: "三年级起点" in an edition's name: the grade its English course starts in.
_STARTING_GRADE = re.compile(r"([一二三四五六七八九])年级起点")


def spoken_aliases(term: Any) -> list[str]:
    """The aliases of *term* that teachers type: 初二 for 八年级, 必修1 for 必修第一册,
    部编版 for 统编版. The catalogue's ``edition-publisher`` spellings are left out:
    a publisher's name (北京师范大学出版社) would make 北京 find every book it prints."""
    return [alias for alias in term.extra.get("aliases", ()) if "-" not in alias]
