"""The whole LTI flow over real HTTP: a platform registered by hand, an instructor
deep-links two resources, the test checks the response JWT claim by claim, learners
launch each item and see the right resource."""

from __future__ import annotations

from lti.models import Deployment, Launch, Placement, PlatformUser
from repo_app.extensions import db
from tests.lti.conftest import (
    Browser,
    Pool,
    deep_linking_response,
    error_of,
    launch,
    register,
    resource_id_shown,
)
from tests.lti.platform import DL, Platform, Scenario, deep_linking


def test_register_deep_link_two_resources_and_launch_each(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    # An administrator registers the school's platform by hand, for school s1.
    register(app, platform, "s1")

    # The instructor opens Kejian from the course editor: the picker lists what s1 may
    # see, and nothing of s2's own.
    picker = launch(browser, platform, deep_linking())
    assert picker.status_code == 200
    assert picker.url.startswith(kejian + "/lti/picker/")
    assert "frame-ancestors" in picker.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in picker.headers
    for rid in (pool.s1_school, pool.city, pool.public):
        assert pool.title(rid) in picker.text
    assert pool.title(pool.s2_school) not in picker.text

    # Two resources are picked; the tool answers with a form that posts to the
    # platform, which validates it against the tool's key set (lti1p3platform).
    returned = browser.submit(
        picker,
        form_id="choose",
        extra=[("resource", str(pool.s1_school)), ("resource", str(pool.public))],
    )
    assert returned.status_code == 200
    saved = browser.submit(returned)
    assert saved.json() == {"saved": 2}

    # The response JWT, checked claim by claim by the test itself.
    claims = deep_linking_response(kejian, platform)
    items = claims[DL + "content_items"]
    assert [i["type"] for i in items] == ["ltiResourceLink", "ltiResourceLink"]
    assert [i["url"] for i in items] == [kejian + "/lti/launch"] * 2
    assert [i["custom"] for i in items] == [
        {"resource_id": str(pool.s1_school)},
        {"resource_id": str(pool.public)},
    ]
    assert [i["title"] for i in items] == [
        pool.title(pool.s1_school),
        pool.title(pool.public),
    ]
    assert all(i["text"] for i in items)
    assert "thumbnail" not in items[0]
    assert items[1]["thumbnail"]["url"].startswith(
        kejian + f"/api/v1/resources/{pool.public}/"
    )

    # Learners launch each item as the platform saved it: the right resource shows.
    for n, item in enumerate(items):
        learner = Browser()
        page = launch(
            learner,
            platform,
            Scenario(
                sub=f"learner-{n}", resource_link_id=f"link-{n}", custom=item["custom"]
            ),
        )
        assert page.status_code == 200, page.text[:400]
        assert resource_id_shown(page) == int(item["custom"]["resource_id"])

        # Its file plays inside the page through the download endpoint, with Range.
        link = page.text.split('class="button download" href="')[1].split('"')[0]
        part = learner.get(kejian + link, headers={"Range": "bytes=0-3"})
        assert part.status_code == 206
        assert len(part.content) == 4

    # The launches and placements are recorded for statistics: which platform and
    # deployment, which course and link, who in which role, which resource.
    out = app.test_cli_runner().invoke(args=["lti", "list", "--json"]).output
    assert '"launches": 3' in out
    db.session.rollback()
    placements = db.session.execute(
        db.select(
            Deployment.deployment_id,
            Placement.context_id,
            Placement.context_title,
            Placement.resource_link_id,
            Placement.resource_id,
            PlatformUser.sub,
        )
        .join(Deployment, Placement.deployment_pk == Deployment.id)
        .join(PlatformUser, Placement.placed_by_id == PlatformUser.id)
        .order_by(Placement.id)
    ).all()
    assert [tuple(p) for p in placements] == [
        (platform.deployment_id, "course-1", "七年级数学", f"link-{n}", rid, "teacher-1")
        for n, rid in enumerate((pool.s1_school, pool.public))
    ]
    launches = db.session.execute(
        db.select(
            Launch.message_type,
            Launch.role,
            PlatformUser.sub,
            Launch.context_id,
            Launch.resource_link_id,
            Launch.resource_id,
        )
        .join(PlatformUser, Launch.user_pk == PlatformUser.id)
        .order_by(Launch.id)
    ).all()
    assert [tuple(x) for x in launches] == [
        ("LtiDeepLinkingRequest", "instructor", "teacher-1", "course-1", None, None),
        ("LtiResourceLinkRequest", "learner", "learner-0", "course-1", "link-0")
        + (pool.s1_school,),
        ("LtiResourceLinkRequest", "learner", "learner-1", "course-1", "link-1")
        + (pool.public,),
    ]


def test_a_second_deep_link_response_from_the_same_launch_is_refused(
    app, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform)
    picker = launch(browser, platform, deep_linking())
    returned = browser.submit(
        picker, form_id="choose", extra=[("resource", str(pool.city))]
    )
    browser.submit(returned)

    # The picker's form sent again (a replayed form) is refused and signs nothing.
    again = browser.submit(
        picker, form_id="choose", extra=[("resource", str(pool.public))]
    )
    assert again.status_code == 403
    assert "already" in error_of(again)
    assert len(platform.returned) == 1
