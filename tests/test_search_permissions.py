"""Search reveals nothing the asker may not see.

Every role (anonymous, teacher, uploader, reviewer, admin, and the resource's own
uploader) at every organisation relation to the owner (same school, other school of
the district, other district, district level, city level) asks about resources of
every visibility (owner, school, district, city, public) and status (draft, pending,
published, withdrawn): hits, totals, facet counts (organisation facets included),
pages by cursor and suggestions must show exactly what the rules allow.

The expectation is computed here from the rules as ``repo_app/security.py`` states
them, on a plain model of the city, without the code that builds access tokens:

* a published public resource is everyone's;
* a published resource at school, district or city visibility is read by members
  of the owner school, of the owner's district, or of the city, and of any
  organisation below it; at owner visibility by no member;
* the uploader always sees their own resources, whatever their state;
* reviewers and admins of the owner or an organisation above it see it pending;
* admins of the owner or an organisation above it see it in any state.

The city and its 80 resources are built once per engine: on the embedded index, and
on Elasticsearch (osmem-server, or ``KEJIAN_TEST_ELASTICSEARCH_URL``).
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path
from typing import Any

import pytest

from indexer.engines.base import FACET_FIELDS
from tests.search_cluster import SearchCluster, search_cluster

__all__ = ["search_cluster"]  # the fixture, for the Elasticsearch run

# -- the city, as the rules see it ---------------------------------------------------

#: Organisation -> (parent, kind, locality).
ORGS: dict[str, tuple[str | None, str, str | None]] = {
    "city": (None, "city", None),
    "d1": ("city", "district", "urban"),
    "d2": ("city", "district", "rural"),
    "s1": ("d1", "school", "urban"),
    "s2": ("d1", "school", "urban"),
    "s3": ("d2", "school", "rural"),
}
#: Who owns resources: three schools (two districts) and a district's own office.
OWNERS = ["s1", "s2", "s3", "d1"]
ROLES = ["teacher", "uploader", "reviewer", "admin"]
VISIBILITIES = ["owner", "school", "district", "city", "public"]
STATUSES = ["draft", "pending", "published", "withdrawn"]
#: A word that starts the titles of each status, to ask suggestions for.
TITLE_WORDS = {
    "draft": "草稿",
    "pending": "待审",
    "published": "发布",
    "withdrawn": "撤回",
}
#: The same words' pinyin initials (草稿 cao gao ...), which suggest them too.
TITLE_INITIALS = {
    "draft": "cg",
    "pending": "ds",
    "published": "fb",
    "withdrawn": "ch",
}
SUBJECTS = ["math", "chinese", "english"]
STAGES = ["primary", "junior"]
TYPES = ["courseware", "lesson-plan", "exercises"]

#: Askers: anonymous, each role at each organisation, and each owner's uploader
#: (``author@<org>``) who uploaded its resources.
ASKERS = (
    ["anonymous"]
    + [f"{role}@{org}" for role, org in product(ROLES, ORGS)]
    + [f"author@{org}" for org in OWNERS]
)


@dataclass(frozen=True)
class Res:
    owner: str
    visibility: str
    status: str
    title: str
    subject: str
    stage: str
    resource_type: str


def _resources() -> list[Res]:
    made = []
    numbers: Counter[str] = Counter()
    for i, (owner, visibility, status) in enumerate(
        product(OWNERS, VISIBILITIES, STATUSES)
    ):
        numbers[status] += 1
        made.append(
            Res(
                owner=owner,
                visibility=visibility,
                status=status,
                title=f"{TITLE_WORDS[status]}{numbers[status]:02d}",
                subject=SUBJECTS[i % len(SUBJECTS)],
                stage=STAGES[i % len(STAGES)],
                resource_type=TYPES[i % len(TYPES)],
            )
        )
    return made


RESOURCES = _resources()


def chain(org: str) -> list[str]:
    """The organisation and those above it, nearest first."""
    found = []
    node: str | None = org
    while node is not None:
        found.append(node)
        node = ORGS[node][0]
    return found


def nearest(org: str, *kinds: str) -> str | None:
    return next((o for o in chain(org) if ORGS[o][1] in kinds), None)


def audience(res: Res) -> str | None:
    """The organisation whose members (and those below it) read a published *res*."""
    if res.visibility == "school":
        return res.owner
    if res.visibility == "district":
        return nearest(res.owner, "district", "city")
    if res.visibility == "city":
        return nearest(res.owner, "city")
    return None  # owner: no member; public: not a matter of membership


def may_see(asker: str, res: Res) -> bool:
    """The rules of the module docstring."""
    if asker == "anonymous":
        return res.status == "published" and res.visibility == "public"
    role, org = asker.split("@")
    if role == "author":
        if org == res.owner:  # they uploaded every resource of their school
            return True
        role = "uploader"
    above_owner = org in chain(res.owner)
    if role == "admin" and above_owner:
        return True
    if role in ("reviewer", "admin") and above_owner and res.status == "pending":
        return True
    if res.status != "published":
        return False
    if res.visibility == "public":
        return True
    target = audience(res)
    return target is not None and target in chain(org)


def facet_values(res: Res) -> dict[str, list[str]]:
    """The facet values a resource counts for; fields left out have none."""
    district = nearest(res.owner, "district")
    locality = ORGS[res.owner][2]
    return {
        "subject": [res.subject],
        "stage": [res.stage],
        "resource_type": [res.resource_type],
        "owner_org": [res.owner],
        "school": [res.owner] if ORGS[res.owner][1] == "school" else [],
        "district": [district] if district else [],
        "locality": [locality] if locality else [],
    }


def expected_facets(visible: list[Res]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {name: Counter() for name in FACET_FIELDS}
    for res in visible:
        for name, values in facet_values(res).items():
            counts[name].update(values)
    return {name: dict(counter) for name, counter in counts.items()}


def matches(res: Res, filters: dict[str, str]) -> bool:
    return all(value in facet_values(res)[name] for name, value in filters.items())


# -- the application ----------------------------------------------------------------


@dataclass
class City:
    """The application with the city and its resources, on one engine."""

    client: Any
    tokens: dict[str, str]
    ids: dict[Res, int]

    def visible(self, asker: str, **filters: str) -> list[Res]:
        return [r for r in RESOURCES if may_see(asker, r) and matches(r, filters)]

    def get(self, asker: str, path: str, **params: Any) -> dict[str, Any]:
        token = self.tokens.get(asker)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = self.client.get(path, query_string=params, headers=headers)
        assert resp.status_code == 200, resp.get_json()
        body: dict[str, Any] = resp.get_json()
        return body

    def search(self, asker: str, **params: Any) -> dict[str, Any]:
        return self.get(asker, "/api/v1/search", per_page=100, **params)

    def hit_ids(self, body: dict[str, Any]) -> set[int]:
        return {hit["id"] for hit in body["hits"]}

    def id_set(self, resources: list[Res]) -> set[int]:
        return {self.ids[r] for r in resources}


def _build_city() -> tuple[dict[str, str], dict[Res, int]]:
    """Organisations, one user per asker with an API token, and the resources,
    indexed in one delivery."""
    from repo_app.extensions import db
    from repo_app.models import Organisation, Resource, Status, User, Visibility
    from repo_app.services import indexing
    from repo_app.services.accounts import add_org, add_user, create_token

    for code, (parent, kind, locality) in ORGS.items():
        add_org(code, code.upper(), kind, parent, locality)
        db.session.flush()

    tokens = {}
    for asker in ASKERS[1:]:
        role, org = asker.split("@")
        user = add_user(
            asker.replace("@", "-"),
            None,
            roles=[(org, "uploader" if role == "author" else role)],
        )
        db.session.flush()
        tokens[asker] = create_token(user, "tests")

    orgs = {o.code: o for o in db.session.query(Organisation)}
    authors = {u.username: u for u in db.session.query(User)}
    made = {}
    for res in RESOURCES:
        resource = Resource(
            title=res.title,
            description="叶绿体 光合作用",
            owner_org=orgs[res.owner],
            uploader=authors[f"author-{res.owner}"],
            visibility=Visibility(res.visibility),
            status=Status(res.status),
            subject=res.subject,
            stage=res.stage,
            resource_type=res.resource_type,
            keywords=[],
        )
        db.session.add(resource)
        made[res] = resource
    db.session.flush()
    ids = {res: resource.id for res, resource in made.items()}
    indexing.mark(*ids.values())
    db.session.commit()
    assert indexing.deliver() == (len(ids), 0)
    return tokens, ids


@pytest.fixture(scope="module", params=["tantivy", "elasticsearch"])
def city(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
) -> Iterator[City]:
    from config.settings import load_settings
    from repo_app import create_app
    from repo_app.extensions import db

    home = tmp_path_factory.mktemp("permissions")
    shutil.copy(sqlite_template, home / "kejian.db")
    settings = replace(
        load_settings({"KEJIAN_HOME": str(home / "instance")}),
        database_url=f"sqlite:///{home / 'kejian.db'}",
        demo_dir=None,
    )
    cluster: SearchCluster | None = None
    alias = ""
    if request.param == "elasticsearch":
        cluster = request.getfixturevalue("search_cluster")
        alias = cluster.new_alias()
        settings = replace(
            settings,
            search_url=cluster.url,
            search_index=alias,
            search_api_key=cluster.api_key,
            search_ca_certs=cluster.ca_certs,
        )

    app = create_app(settings, TESTING=True)
    try:
        with app.app_context():
            tokens, ids = _build_city()
            yield City(app.test_client(), tokens, ids)
            db.session.remove()
            db.engine.dispose()
    finally:
        app.extensions["kejian"].engine.close()
        if cluster is not None:
            cluster.remove(alias)


# -- the expectation is not trivial -------------------------------------------------


def test_the_rules_cover_every_case() -> None:
    assert len(RESOURCES) == len(OWNERS) * len(VISIBILITIES) * len(STATUSES) == 80
    seen = {asker: len([r for r in RESOURCES if may_see(asker, r)]) for asker in ASKERS}
    assert seen["anonymous"] == 4  # the published public ones
    assert seen["admin@city"] == 80
    # The uploader sees all their own resources, and as a member of s1 the others'
    # published to d1's members (d1's school-wide one, s2's and d1's district-wide
    # ones), to the city and to the public.
    assert seen["author@s1"] == 20 + 3 + 3 + 3
    # A teacher of s1 reads the school-wide resources of s1 and of d1 (whose own
    # "school" is the district), the district-wide ones of s1, s2 and d1, and every
    # city-wide and public one.
    assert seen["teacher@s1"] == 2 + 3 + 4 + 4
    # A district reviewer reads district-wide resources of its district, and
    # pending ones of the district's organisations; not a school's school-wide ones.
    assert seen["reviewer@d1"] == 3 + 1 + 4 + 4 + 3 * 5


# -- what each asker gets -----------------------------------------------------------


@pytest.mark.parametrize("asker", ASKERS)
def test_hits_totals_and_facets_show_only_what_the_asker_may_see(
    city: City, asker: str
) -> None:
    visible = city.visible(asker)
    # Browsing without words, and searching words every resource has.
    for params in ({}, {"q": "叶绿体"}):
        body = city.search(asker, **params)
        assert city.hit_ids(body) == city.id_set(visible), params
        assert body["total"] == len(visible)
        counts = {
            name: {f["value"]: f["count"] for f in values}
            for name, values in body["facets"].items()
        }
        assert counts == expected_facets(visible), params


@pytest.mark.parametrize("asker", ASKERS)
def test_multi_select_counts_stay_within_what_the_asker_may_see(
    city: City, asker: str
) -> None:
    body = city.search(asker, subject="math", school="s1")
    assert city.hit_ids(body) == city.id_set(
        city.visible(asker, subject="math", school="s1")
    )

    # A filtered field is counted under the other filters only; the rest under both.
    def counted(name: str) -> dict[str, int]:
        return {f["value"]: f["count"] for f in body["facets"][name]}

    assert (
        counted("subject")
        == expected_facets(city.visible(asker, school="s1"))["subject"]
    )
    assert (
        counted("school")
        == expected_facets(city.visible(asker, subject="math"))["school"]
    )
    both = expected_facets(city.visible(asker, subject="math", school="s1"))
    for name in ("district", "owner_org", "stage", "resource_type"):
        assert counted(name) == both[name], name


@pytest.mark.parametrize("asker", ASKERS)
def test_pages_by_cursor_and_date_show_nothing_more(city: City, asker: str) -> None:
    visible = city.id_set(city.visible(asker))
    params = {"per_page": 9, "sort": "newest", "from": "2000-01-01", "facets": ""}
    found: list[int] = []
    body = city.get(asker, "/api/v1/search", **params)
    while True:
        assert body["total"] == len(visible)
        found.extend(hit["id"] for hit in body["hits"])
        if body["next_cursor"] is None:
            break
        body = city.get(asker, "/api/v1/search", **params, cursor=body["next_cursor"])
    assert sorted(found) == sorted(visible)


@pytest.mark.parametrize("asker", ASKERS)
def test_suggestions_show_only_titles_the_asker_may_see(city: City, asker: str) -> None:
    for status, word in TITLE_WORDS.items():
        expected = {r.title for r in city.visible(asker) if r.status == status}
        for typed in (word, TITLE_INITIALS[status]):
            body = city.get(asker, "/api/v1/suggest", q=typed, limit=20)
            assert set(body["suggestions"]) == expected, (status, typed)
