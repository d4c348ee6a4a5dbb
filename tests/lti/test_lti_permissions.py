"""A launch from school A's platform never reaches what only school B may see,
whatever is tampered with: custom claims, ids in URLs, replayed or edited forms."""

from __future__ import annotations

import re

from tests.lti.conftest import Browser, Pool, deep_link, error_of, launch, register
from tests.lti.conftest import resource_id_shown as shown
from tests.lti.platform import INSTRUCTOR, Platform, Scenario, deep_linking


def test_school_a_never_reaches_school_b_only_resources(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    # School A (s1) places its own resource; learners open it.
    register(app, platform, "s1")
    deep_link(browser, platform, [pool.s1_school])
    learner = Browser()
    page = launch(learner, platform, Scenario(custom={"resource_id": pool.s1_school}))
    assert shown(page) == pool.s1_school

    # 1. A custom claim naming school B's resource, for a new link, as a learner and
    #    as an instructor: refused, and the page does not show it.
    for roles in (["Learner"], list(INSTRUCTOR)):
        tampered = launch(
            Browser(),
            platform,
            Scenario(
                resource_link_id=f"new-{roles[0]}",
                roles=roles,
                custom={"resource_id": pool.s2_school},
            ),
        )
        assert tampered.status_code in (403, 404)
        assert pool.title(pool.s2_school) not in tampered.text

    # 2. The custom claim of an already placed link edited to B's id: the link keeps
    #    the resource it was placed with.
    edited = launch(
        Browser(), platform, Scenario(custom={"resource_id": str(pool.s2_school)})
    )
    assert shown(edited) == pool.s1_school

    # 3. Ids in URLs: another file id under the learner's launch, another launch's
    #    token without its cookie.
    token = re.search(r"/lti/view/([\w-]+)", page.url).group(1)  # type: ignore[union-attr]
    s2_files = app.test_client().get(
        f"/api/v1/resources/{pool.s2_school}", headers={"Authorization": ""}
    )
    assert s2_files.status_code == 404  # anonymous cannot even list it
    from repo_app.extensions import db
    from repo_app.models import Resource

    db.session.rollback()
    s2_file_id = db.session.get(Resource, pool.s2_school).files[0].id  # type: ignore[union-attr]
    file_url = f"{kejian}/lti/view/{token}/files/{s2_file_id}"
    assert learner.get(file_url).status_code == 404
    stranger = Browser()
    assert stranger.get(page.url).status_code == 403
    assert stranger.get(f"{kejian}/lti/view/made-up-token").status_code == 403

    # 4. The picker's form edited to B's id, and replayed: refused, nothing signed.
    before = len(platform.returned)
    picker = launch(browser, platform, deep_linking())
    edited_form = browser.submit(
        picker, form_id="choose", extra=[("resource", str(pool.s2_school))]
    )
    assert edited_form.status_code == 404
    assert "may not see it" in error_of(edited_form)
    assert len(platform.returned) == before


def test_school_b_sees_its_own_through_its_own_platform(
    app, platform: Platform, pool: Pool
) -> None:
    register(app, platform, "s2")
    page = launch(
        Browser(),
        platform,
        Scenario(roles=list(INSTRUCTOR), custom={"resource_id": pool.s2_school}),
    )
    assert shown(page) == pool.s2_school
    # ... and not school A's.
    page = launch(
        Browser(),
        platform,
        Scenario(
            resource_link_id="other",
            roles=list(INSTRUCTOR),
            custom={"resource_id": pool.s1_school},
        ),
    )
    assert page.status_code == 404


def test_learners_open_only_what_was_placed(
    app, platform: Platform, pool: Pool
) -> None:
    register(app, platform, "s1")
    # Visible to the school, but no instructor placed it: a learner cannot open it.
    page = launch(Browser(), platform, Scenario(custom={"resource_id": pool.city}))
    assert page.status_code == 403
    assert "not placed" in error_of(page)


def test_platform_users_are_told_apart_by_registration_never_by_email(
    app, platform: Platform, pool: Pool
) -> None:
    from lti.models import PlatformUser, Registration
    from repo_app.extensions import db
    from tests.lti.conftest import cli

    # Two clients of one issuer (two schools' installs), each with a learner whose
    # sub and e-mail are the same: they are two people, one per registration.
    register(app, platform, "s1")
    other = cli(
        app,
        *("lti", "register", "--issuer", platform.issuer),
        *("--client-id", "second-client", "--login-url", platform.login_url),
        *("--key-set-url", platform.jwks_url, "--deployment", platform.deployment_id),
        *("--org", "s2"),
    )
    assert other.exit_code == 0, other.output
    same = {"sub": "student-7", "claims": {"email": "same@example.edu"}}
    teacher = {"roles": list(INSTRUCTOR), "custom": {"resource_id": pool.city}}
    assert launch(Browser(), platform, Scenario(**same, **teacher)).status_code == 200
    as_second = Scenario(**same, **teacher, client_id="second-client")
    assert launch(Browser(), platform, as_second).status_code == 200

    db.session.rollback()
    people = db.session.execute(
        db.select(Registration.client_id, PlatformUser.sub)
        .join(Registration, PlatformUser.registration_id == Registration.id)
        .order_by(Registration.client_id)
    ).all()
    assert [tuple(p) for p in people] == [
        (platform.client_id, "student-7"),
        ("second-client", "student-7"),
    ]
    assert db.session.scalar(
        db.select(db.func.count()).select_from(PlatformUser).where(
            PlatformUser.user_id.is_not(None)
        )
    ) == 0
