"""WCAG 2.1 AA on every page, checked in headless Chromium by axe-core.

axe-core comes from the npm registry as a development package of ``frontend/``
(``make build`` installs it with the others); the test puts it into each page with
Playwright and never has the app serve it. Each page is checked in Chinese and in
English, signed out and as each role, against the rules tagged wcag2a, wcag2aa,
wcag21a and wcag21aa; a failure lists every violation with its rule, the element and
what to do.

The resources made for it, one per kind of preview, also give the screenshots of
the previews that the catalogue's tests do not take (audio, image, text, a SCORM
package's outline).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.conftest import CORPUS, Api
from tests.web.conftest import LANG_COOKIE, LiveServer
from tests.web.shelf import BOOK, Shelf

pytestmark = [
    pytest.mark.browser,
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is missing"),
]

AXE = Path(__file__).resolve().parents[2] / "frontend" / "node_modules" / "axe-core"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

#: One public resource per kind of preview: kind -> (corpus file, title).
PREVIEWS = {
    "pdf": ("pdf/multilang.pdf", "无障碍样例 多语言讲义"),
    "video": ("media/testWEBM.webm", "无障碍样例 短片"),
    "audio": ("media/testMP3i18n.mp3", "无障碍样例 朗读录音"),
    "image": ("media/hopper.jpg", "无障碍样例 人物图片"),
    "text": ("zh/combination.md", "无障碍样例 排列组合讲义"),
    "outline": ("package/RuntimeMinimumCalls_SCORM12.zip", "无障碍样例 课程包"),
}
#: Asked for by uploader2 at the district's level: it waits in d1reviewer's queue.
PENDING = "无障碍样例 待审课件"

#: The browse tree, one address per level down to a book's chapters.
BROWSE = [
    "/browse",
    "/browse/junior",
    "/browse/junior/math",
    "/browse/junior/math/pep",
    f"/browse/{BOOK}",
]
#: Pages of each role beside the catalogue; ``{...}`` are filled from ``gallery``.
ROLE_PAGES = {
    None: ["/login", "/no/such/page"],
    "teacher1": ["/workspace", "{collection}", "{shared}", "/account/password"],
    "uploader1": ["/upload/", "{batch}", "/upload/csv", "/workspace"],
    "d1reviewer": ["/review/", "/workspace"],
    "cityadmin": [
        "/admin/",
        "/admin/orgs",
        "/admin/orgs/new",
        "/admin/users",
        "/admin/users/new",
        "{user}",
        "/admin/vocabularies",
        "/admin/lti/",
        "/admin/lti/new",
    ],
}


@pytest.fixture(scope="session")
def axe_source() -> Path:
    script = AXE / "axe.min.js"
    if not script.is_file():
        pytest.fail(f"{script} is missing: make build (npm ci in frontend/) adds it")
    return script


@pytest.fixture(scope="session")
def gallery(live_server: LiveServer) -> dict[str, Any]:
    """The resources and places the pages are checked on, made once."""
    from repo_app.extensions import db
    from repo_app.models import User, Visibility
    from repo_app.security import Principal
    from repo_app.services import uploads, workspace
    from repo_app.services.accounts import load_chapters

    api = Api(live_server.app.test_client(), live_server.world)
    shelf = Shelf(api)
    found: dict[str, Any] = {}
    with live_server.app.app_context():
        load_chapters()  # idempotent: other tests may have loaded them
        db.session.commit()
        db.session.remove()
    for kind, (source, title) in PREVIEWS.items():
        found[kind] = shelf.add(
            title,
            who="uploader3",
            files={Path(source).name: (CORPUS / source).read_bytes()},
            stage="primary",
            subject="music",
        )
    pending = shelf.add(PENDING, who="uploader2", visibility=None)
    asked = api.publish("uploader2", pending, "district")
    assert asked.get_json()["status"] == "pending", asked.get_json()

    with live_server.app.app_context():
        people = {
            name: Principal.for_user(
                db.session.scalars(select(User).filter_by(username=name)).one()
            )
            for name in ("teacher1", "uploader1")
        }
        teacher = people["teacher1"]
        made = workspace.create_collection(
            teacher, "无障碍样例 资源集", audience=Visibility.DISTRICT
        )
        workspace.add_to_collection(teacher, made.id, found["image"])
        batch = uploads.create_batch(
            people["uploader1"], "s1", Visibility.SCHOOL, {"subject": "music"}
        )
        db.session.commit()
        found["collection"] = f"/workspace/collections/{made.id}"
        found["shared"] = f"/c/{made.slug}"
        found["user"] = f"/admin/users/{teacher.user_id}"
        found["batch"] = f"/upload/batches/{batch.id}"
        db.session.remove()
    return found


@pytest.fixture
def checked_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A page whose context lets Playwright add axe's script: the pages'
    Content-Security-Policy refuses scripts that are not the app's own files, and
    axe is never one of them."""
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        viewport={"width": 1280, "height": 800},
        bypass_csp=True,
    )
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def catalogue_pages(gallery: dict[str, Any]) -> list[str]:
    """What every visitor can open: home, the browse tree, search with results, with
    none and with a date it cannot read, and a resource page of each kind of
    preview."""
    return [
        "/",
        *BROWSE,
        "/search?q=无障碍样例",
        "/search?q=无障碍样例&subject=english",
        "/search?q=无障碍样例&from=2024-02-30",
        *(f"/resources/{gallery[kind]}" for kind in PREVIEWS),
    ]


def violations(page: Any, axe_source: Path) -> list[str]:
    """axe's WCAG 2.1 A and AA violations on the loaded page, a line per element."""
    page.add_script_tag(path=str(axe_source))
    result = page.evaluate(
        """tags => axe.run(document, {runOnly: {type: "tag", values: tags}})""",
        WCAG_TAGS,
    )
    return [
        f"{rule['id']}: {', '.join(map(str, node['target']))} ({rule['help']})"
        for rule in result["violations"]
        for node in rule["nodes"]
    ]


@pytest.mark.parametrize("who", list(ROLE_PAGES), ids=lambda w: w or "signed-out")
def test_every_page_meets_wcag_21_aa(
    checked_page: Any,
    live_server: LiveServer,
    gallery: dict[str, Any],
    axe_source: Path,
    login: Any,
    who: str | None,
) -> None:
    page = checked_page
    if who:
        login(page, who)
        assert who in page.locator("header .account").inner_text()
    paths = [
        *catalogue_pages(gallery),
        *(path.format(**gallery) for path in ROLE_PAGES[who]),
    ]

    found: list[str] = []
    for locale in ("zh_CN", "en"):
        page.context.add_cookies(
            [{"name": LANG_COOKIE, "value": locale, "url": live_server.url}]
        )
        for path in paths:
            page.goto(path)
            found += [
                f"{locale} {path} {line}" for line in violations(page, axe_source)
            ]
    assert not found, "WCAG 2.1 AA violations:\n" + "\n".join(found)


def test_forms_showing_their_errors_meet_wcag_21_aa(
    checked_page: Any, live_server: LiveServer, axe_source: Path, login: Any
) -> None:
    page = checked_page
    found: list[str] = []
    for locale in ("zh_CN", "en"):
        page.context.clear_cookies()
        page.context.add_cookies(
            [{"name": LANG_COOKIE, "value": locale, "url": live_server.url}]
        )
        # A wrong password: the message next to the field.
        login(page, "cityadmin", "not the password")
        assert page.locator("#password-error").is_visible()
        found += [f"{locale} login {line}" for line in violations(page, axe_source)]

        # A form sent empty: every field's message beside it.
        login(page, "cityadmin")
        page.goto("/admin/orgs/new")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        assert page.locator(".error").count() > 0
        found += [f"{locale} org form {line}" for line in violations(page, axe_source)]
    assert not found, "WCAG 2.1 AA violations:\n" + "\n".join(found)


def test_the_check_finds_what_it_is_for(checked_page: Any, axe_source: Path) -> None:
    # A field without a label and grey text on white: both are reported.
    checked_page.goto("/")
    checked_page.evaluate(
        """() => document.querySelector("main").insertAdjacentHTML("beforeend",
             '<input id="nameless"><p id="faint" style="color:#bbb">浅灰色的说明文字</p>')"""
    )
    found = "\n".join(violations(checked_page, axe_source))
    assert "label: #nameless" in found
    assert "color-contrast: #faint" in found


def test_screenshots_of_each_kind_of_preview(
    page: Any, gallery: dict[str, Any], screenshots: Any
) -> None:
    # Each preview as it shows, before the visitor plays or opens anything.
    page.goto(f"/resources/{gallery['audio']}")
    expect(page.locator("audio.media")).to_be_visible()
    screenshots(page, "resource-audio")

    page.goto(f"/resources/{gallery['image']}")
    image = page.get_by_role("img", name=PREVIEWS["image"][1])
    expect(image).to_be_visible()
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => document.querySelector('img.image-preview').naturalWidth > 0"
    )
    screenshots(page, "resource-image")

    page.goto(f"/resources/{gallery['text']}")
    expect(page.get_by_role("region", name="combination.md 的文字内容")).to_be_visible()
    screenshots(page, "resource-text")

    page.goto(f"/resources/{gallery['outline']}")
    expect(page.locator(".outline li").first).to_be_visible()
    screenshots(page, "resource-outline")
