"""LTI fixtures: Kejian served over HTTP, a platform beside it, a browser, resources.

``kejian`` serves the app of the shared ``app`` fixture (so every test runs on SQLite
and PostgreSQL) on 127.0.0.1; :class:`Browser` is a requests session that follows
redirects and submits the auto-posting forms that LTI flows are made of.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

import jwt
import lxml.html
import pytest
import requests
from jwt import PyJWKSet

from config.settings import load_settings
from tests.conftest import CORPUS, Api, World
from tests.conftest import _truncate_postgres as truncate_postgres
from tests.lti.platform import (
    CLAIM,
    DL,
    INSTRUCTOR,
    LEARNER,
    LiveServer,
    Platform,
    Scenario,
    deep_linking,
    running_platform,
)


class Browser:
    """A person's browser: cookies, redirects, and forms submitted as pages ask."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.last: requests.Response | None = None

    def get(self, url: str, **kw: Any) -> requests.Response:
        self.last = self.session.get(url, timeout=30, **kw)
        return self.last

    def form(
        self, response: requests.Response | None = None, form_id: str | None = None
    ) -> tuple[str, str, dict[str, Any]]:
        """(method, absolute action, fields) of the page's form: its fields that are
        not check boxes or radio buttons (see :meth:`ticked`)."""
        form = self._form(response, form_id)
        fields = {
            i.name: i.value
            for i in form.inputs
            if i.name and getattr(i, "type", "") not in ("checkbox", "radio", "submit")
        }
        return form.method.upper(), form.action or form.base_url, fields

    def ticked(
        self, response: requests.Response | None = None, form_id: str | None = None
    ) -> list[tuple[str, str]]:
        """The (name, value) of the form's ticked, enabled check boxes and radios."""
        return [
            (i.name, i.value)
            for i in self._form(response, form_id).inputs
            if i.name
            and getattr(i, "type", "") in ("checkbox", "radio")
            and i.checked
            and i.get("disabled") is None
        ]

    def _form(self, response: requests.Response | None, form_id: str | None) -> Any:
        response = response or self.last
        assert response is not None
        doc = lxml.html.fromstring(response.text, base_url=response.url)
        forms = doc.forms if form_id is None else [doc.get_element_by_id(form_id)]
        assert forms, f"no form on {response.url}: {response.text[:300]}"
        return forms[-1] if form_id is None else forms[0]

    def submit(
        self,
        response: requests.Response | None = None,
        *,
        form_id: str | None = None,
        extra: Any = None,
        headers: dict[str, str] | None = None,
        replace: dict[str, str] | None = None,
        button: tuple[str, str] | str | None = None,
    ) -> requests.Response:
        """Submit the form with its fields, ticked boxes and *extra* pairs; with
        *button* (``(name, value)``, or its text), by that submit button with its
        ``formmethod`` and ``formaction``, as a click on it does."""
        method, action, fields = self.form(response, form_id)
        fields.update(replace or {})
        data: Any = (
            list(fields.items()) + self.ticked(response, form_id) + list(extra or [])
        )
        if button is not None:
            form = self._form(response, form_id)
            if isinstance(button, str):
                found = form.xpath(".//button[normalize-space(.)=$t]", t=button)
            else:
                found = form.xpath(
                    ".//button[@name=$n and @value=$v]", n=button[0], v=button[1]
                )
                data.append(button)
            assert found, f"no button {button} in the form"
            method = (found[0].get("formmethod") or method).upper()
            if found[0].get("formaction"):
                action = urljoin(form.base_url, found[0].get("formaction"))
        if method == "GET":
            self.last = self.session.get(
                action, params=data, timeout=30, headers=headers
            )
        else:
            self.last = self.session.post(
                action, data=data, timeout=30, headers=headers
            )
        return self.last


#: The test platforms are on 127.0.0.1, where Kejian sends nothing on a registration
#: request unless told to (lti.dynamic.check_platform_url).
LOOPBACK_PLATFORMS = {"KEJIAN_LTI_REGISTRATION_HOSTS": "127.0.0.1"}


@pytest.fixture
def lti_config() -> dict[str, str]:
    """``KEJIAN_LTI_*`` settings for the app; parametrize to change them."""
    return dict(LOOPBACK_PLATFORMS)


@pytest.fixture
def app(settings, lti_config):  # type: ignore[no-untyped-def]
    """The shared app fixture's app, with this test's LTI settings."""
    from repo_app import create_app
    from repo_app.extensions import db

    app = create_app(settings, TESTING=True, **lti_config)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    app.extensions["kejian"].engine.close()


@pytest.fixture
def kejian(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The base URL of Kejian, served from the test's app."""
    server = LiveServer(app)
    yield server.url
    server.close()


@pytest.fixture(autouse=True)
def _fresh_key_sets() -> Iterator[None]:
    from lti.tool import key_sets

    key_sets.clear()
    yield
    key_sets.clear()


@pytest.fixture
def platform(kejian: str) -> Iterator[Platform]:
    with running_platform() as p:
        p.tool_url = kejian
        yield p


@pytest.fixture
def browser() -> Browser:
    return Browser()


def cli(app: Any, *args: str) -> Any:
    result = app.test_cli_runner().invoke(args=list(args))
    return result


def register(app: Any, platform: Platform, org: str = "s1", *extra: str) -> Any:
    """Register *platform* by hand, as an administrator would."""
    result = cli(
        app,
        "lti",
        "register",
        "--issuer",
        platform.issuer,
        "--client-id",
        platform.client_id,
        "--login-url",
        platform.login_url,
        "--key-set-url",
        platform.jwks_url,
        "--deployment",
        platform.deployment_id,
        "--org",
        org,
        *extra,
    )
    assert result.exit_code == 0, result.output
    return result


@dataclass
class Pool:
    """Resources of the test city, by who may see them."""

    s1_school: int  # only s1 (and its admins) may see it
    s2_school: int  # only s2
    city: int  # every organisation in the city
    public: int  # everyone; has an image, so it gets a thumbnail

    def title(self, rid: int) -> str:
        return {
            self.s1_school: "一中校本练习",
            self.s2_school: "二中校本试卷",
            self.city: "全市共享课件",
            self.public: "公开图片资源",
        }[rid]


# A 1x1 PNG: enough for the sniffer to call it an image.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cfc0f01f0005000201a5f5b3e60000000049454e44ae426082"
)


def make_pool(api: Any) -> Pool:
    """The four resources of :class:`Pool`, made through the API as cityadmin."""

    def make(owner: str, title: str, visibility: str, name: str, data: bytes) -> int:
        rid = api.create(
            "cityadmin",
            title=title,
            owner_org=owner,
            description=f"{title}：说明",
            subject="math",
        )["id"]
        resp = api.upload("cityadmin", rid, name, data)
        assert resp.status_code == 201, resp.get_json()
        assert api.publish("cityadmin", rid, visibility).status_code == 200
        return int(rid)

    return Pool(
        s1_school=make(
            "s1", "一中校本练习", "school", "lianxi.txt", "一元二次方程练习".encode()
        ),
        s2_school=make(
            "s2", "二中校本试卷", "school", "shijuan.txt", "二中期中试卷".encode()
        ),
        city=make(
            "s2", "全市共享课件", "city", "kejian.txt", "全市共享的课件内容".encode()
        ),
        public=make("s3", "公开图片资源", "public", "tu.png", PNG),
    )


@pytest.fixture
def pool(api) -> Pool:  # type: ignore[no-untyped-def]
    return make_pool(api)


# -- one Kejian, city, pool and platform for a whole module ---------------------------


@dataclass
class Shared:
    """What :func:`shared_kejian` builds once per module and database."""

    app: Any
    world: World
    pool: Pool
    url: str
    platform: Platform


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared_kejian(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    """Kejian served with the test city and pool, and a platform beside it, built
    once for a module whose tests change none of it (refusals, which their tests
    check change nothing). A module uses it by overriding ``app``, ``kejian``,
    ``platform``, ``world`` and ``pool`` with :func:`use_shared_kejian`."""
    from repo_app import create_app
    from repo_app.extensions import db

    home = tmp_path_factory.mktemp("lti-shared")
    if request.param == "sqlite":
        path = home / "kejian.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        truncate_postgres(url)
    base = load_settings(
        {"KEJIAN_HOME": str(home / "instance"), "KEJIAN_MAX_UPLOAD_MB": "64"}
    )
    app = create_app(
        replace(base, database_url=url, demo_dir=None),
        TESTING=True,
        **LOOPBACK_PLATFORMS,
    )
    with app.app_context():
        world = World()
        pool = make_pool(Api(app.test_client(), world))
        db.session.remove()
    server = LiveServer(app)
    try:
        with running_platform() as platform:
            platform.tool_url = server.url
            yield Shared(app, world, pool, server.url, platform)
    finally:
        server.close()
        with app.app_context():
            db.engine.dispose()
        app.extensions["kejian"].engine.close()


def use_shared_kejian() -> tuple[Any, ...]:
    """Fixtures that make a module's ``app``, ``kejian``, ``platform``, ``world`` and
    ``pool`` those of :func:`shared_kejian`; assign them in the module::

        app, kejian, platform, world, pool = use_shared_kejian()
    """

    @pytest.fixture
    def app(shared_kejian: Shared) -> Iterator[Any]:
        from repo_app.extensions import db

        with shared_kejian.app.app_context():
            yield shared_kejian.app
            db.session.remove()

    @pytest.fixture
    def kejian(shared_kejian: Shared) -> str:
        return shared_kejian.url

    @pytest.fixture
    def platform(shared_kejian: Shared) -> Platform:
        return shared_kejian.platform

    @pytest.fixture
    def world(shared_kejian: Shared) -> World:
        return shared_kejian.world

    @pytest.fixture
    def pool(shared_kejian: Shared) -> Pool:
        return shared_kejian.pool

    return app, kejian, platform, world, pool


def resource_id_shown(response: requests.Response) -> int:
    """The resource a launch page shows."""
    doc = lxml.html.fromstring(response.text)
    found = doc.get_element_by_id("resource-title")
    return int(found.get("data-resource-id"))


def error_of(response: requests.Response) -> str:
    """The message of a refusal page (or JSON error)."""
    if response.headers.get("Content-Type", "").startswith("application/json"):
        return str(json.loads(response.text)["error"]["message"])
    doc = lxml.html.fromstring(response.text)
    return str(doc.get_element_by_id("message").text_content())


def launch(
    browser: Browser, platform: Platform, scenario: Scenario
) -> requests.Response:
    """Open a link in the platform: login, authentication, launch, the tool's page."""
    page = browser.get(platform.start_url(scenario))
    assert page.status_code == 200, page.text[:500]
    return browser.submit(page)


def deep_link(
    browser: Browser,
    platform: Platform,
    picks: list[int],
    scenario: Scenario | None = None,
) -> requests.Response:
    """An instructor opens Kejian from the course editor and picks *picks*."""
    scenario = scenario or deep_linking()
    picker = launch(browser, platform, scenario)
    assert picker.status_code == 200, picker.text[:500]
    returned = browser.submit(
        picker, form_id="choose", extra=[("resource", str(r)) for r in picks]
    )
    assert returned.status_code == 200, returned.text[:500]
    return browser.submit(returned)


@dataclass
class Shown:
    """A learner's launch of one resource: the page and what it links to."""

    browser: Browser
    page: Any
    token_path: str
    doc: Any
    data: bytes

    def file_url(self, xpath: str, attribute: str = "src") -> str:
        found = self.doc.xpath(xpath)
        assert found, f"nothing at {xpath} in {self.page.text[:1500]}"
        url = urljoin(self.page.url, found[0].get(attribute))
        # Every file the page shows comes through the launch's token.
        assert urlsplit(url).path.startswith(self.token_path + "/files/"), url
        return url


def launched(
    app: Any,
    api: Any,
    kejian: str,
    platform: Platform,
    browser: Browser,
    path: str,
    *beside: str,
) -> Shown:
    """Put ``../shared/corpus`` file *path* (and the files *beside* it) in a
    resource s1 keeps to itself, place it in a course by Deep Linking, and launch it
    as a learner."""
    data = (CORPUS / path).read_bytes()
    rid = api.create("cityadmin", title=f"课件 {path}", owner_org="s1")["id"]
    for name in (path, *beside):
        resp = api.upload(
            "cityadmin", rid, name.rsplit("/", 1)[-1], (CORPUS / name).read_bytes()
        )
        assert resp.status_code == 201, resp.get_json()
    assert api.publish("cityadmin", rid, "school").status_code == 200

    register(app, platform, "s1")
    assert deep_link(browser, platform, [rid]).json() == {"saved": 1}
    item = deep_linking_response(kejian, platform)[DL + "content_items"][0]
    learner = Browser()
    page = launch(learner, platform, Scenario(custom=item["custom"]))
    assert page.status_code == 200, page.text[:500]
    assert resource_id_shown(page) == rid
    doc = lxml.html.fromstring(page.text)
    return Shown(learner, page, urlsplit(page.url).path, doc, data)


def deep_linking_response(kejian: str, platform: Platform) -> dict[str, Any]:
    """The claims of the last deep-linking response the platform received, verified
    with the tool's published key; those every response carries are checked here."""
    token = platform.returned[-1]["jwt"]
    header = jwt.get_unverified_header(token)
    key_set = requests.get(kejian + "/lti/jwks", timeout=10).json()
    assert list(key_set) == ["keys"]
    key = PyJWKSet.from_dict(key_set)[header["kid"]]
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=platform.issuer)
    assert header["alg"] == "RS256"
    assert claims["iss"] == platform.client_id
    assert claims["aud"] in (platform.issuer, [platform.issuer])
    assert claims[CLAIM + "deployment_id"] == platform.deployment_id
    assert claims[CLAIM + "message_type"] == "LtiDeepLinkingResponse"
    assert claims[CLAIM + "version"] == "1.3.0"
    now = time.time()
    assert now - 60 <= claims["iat"] <= now + 5
    assert claims["iat"] < claims["exp"] <= now + 3600
    assert claims["nonce"]
    assert claims[DL + "data"] == {"course": "course-1"}
    return claims


__all__ = ["INSTRUCTOR", "LEARNER", "Scenario"]
