"""The end-to-end flows again, with Open edX as the platform.

A second platform implementation, independent of ``lti1p3platform``: Open edX's own
LTI consumer (``lti-consumer-xblock``), served by ``tests/lti/openedx_platform.py`` in
a virtual environment of its own (``scripts/openedx-venv.sh``; ``make test`` makes
it and sets ``KEJIAN_TEST_OPENEDX_PYTHON``). Open edX's ways are its own: its login
initiation names the deployment (``lti_deployment_id``); an Open edX "instructor" is
a course Administrator and Instructor, "staff" an Instructor; its Deep Linking
requests carry no ``data`` claim and accept ``ltiResourceLink``, ``link``, ``html``
and ``image`` items but no files; a placed item is launched at the item's ``url``
with its ``custom`` values.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from tests.lti.conftest import Browser, Pool, cli, error_of, resource_id_shown

OPENEDX_PYTHON = os.environ.get("KEJIAN_TEST_OPENEDX_PYTHON")

pytestmark = pytest.mark.skipif(
    not OPENEDX_PYTHON,
    reason="needs Open edX's LTI consumer: set KEJIAN_TEST_OPENEDX_PYTHON to the "
    "Python of scripts/openedx-venv.sh (make test does)",
)

CLIENT_ID = "openedx-kejian"
DEPLOYMENT_ID = "1"


@dataclass
class OpenEdx:
    base: str

    def start_url(self, **params: str) -> str:
        return f"{self.base}/start?{urlencode(params)}"

    def items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = requests.get(self.base + "/items", timeout=10).json()
        return items

    def open(self, browser: Browser, **params: str) -> requests.Response:
        """Open a link in a course: the login, the authentication, the tool's page."""
        platform_form = browser.get(self.start_url(**params))
        assert platform_form.status_code == 200, platform_form.text[:500]
        return browser.submit(platform_form)


@pytest.fixture
def openedx(kejian: str, tmp_path: Path) -> Iterator[OpenEdx]:
    assert OPENEDX_PYTHON is not None
    log = (tmp_path / "openedx.log").open("w")
    process = subprocess.Popen(
        [
            OPENEDX_PYTHON,
            # Isolated: the script's folder holds platform.py, which would hide the
            # standard library's module of that name.
            "-I",
            str(Path(__file__).with_name("openedx_platform.py")),
            "--tool",
            kejian,
            "--client-id",
            CLIENT_ID,
            "--deployment-id",
            DEPLOYMENT_ID,
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().split()
        assert ready[:1] == ["READY"], (tmp_path / "openedx.log").read_text()[-2000:]
        yield OpenEdx(ready[1])
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def _register(app: Any, openedx: OpenEdx) -> None:
    result = cli(
        app,
        "lti",
        "register",
        "--issuer",
        openedx.base,
        "--client-id",
        CLIENT_ID,
        "--login-url",
        openedx.base + "/auth",
        "--key-set-url",
        openedx.base + "/jwks",
        "--deployment",
        DEPLOYMENT_ID,
        "--org",
        "s1",
        "--name",
        "城东一中 Open edX",
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("role", ["instructor", "staff"])
def test_an_open_edx_teacher_places_two_resources_and_a_learner_opens_each(
    app: Any, kejian: str, openedx: OpenEdx, pool: Pool, role: str
) -> None:
    _register(app, openedx)
    teacher = Browser()
    picker = openedx.open(
        teacher, message_type="LtiDeepLinkingRequest", role=role, user="teacher-1"
    )
    assert picker.status_code == 200, picker.text[:500]
    chosen = [pool.s1_school, pool.city]
    returned = teacher.submit(
        picker, form_id="choose", extra=[("resource", str(r)) for r in chosen]
    )
    assert returned.status_code == 200, returned.text[:500]
    # Open edX checks the response against Kejian's published key set.
    saved = teacher.submit(returned)
    assert saved.status_code == 200, saved.text[:500]
    assert saved.json() == {"saved": 2}

    items = openedx.items()
    assert [item["type"] for item in items] == ["ltiResourceLink"] * 2
    assert [item["title"] for item in items] == [pool.title(r) for r in chosen]
    for number, (item, rid) in enumerate(zip(items, chosen, strict=True)):
        page = openedx.open(
            Browser(),
            role="student",
            user="learner-1",
            resource_link_id=f"block-v1:kejian+{number}",
            url=item["url"],
            custom=json.dumps(item["custom"]),
        )
        assert page.status_code == 200, page.text[:500]
        assert resource_id_shown(page) == rid


def test_an_open_edx_student_cannot_open_the_picker(
    app: Any, openedx: OpenEdx, pool: Pool
) -> None:
    _register(app, openedx)
    page = openedx.open(
        Browser(), message_type="LtiDeepLinkingRequest", role="student", user="s-1"
    )
    assert page.status_code == 403
    assert 'id="choose"' not in page.text
    assert error_of(page)


def test_an_open_edx_learner_never_reaches_another_schools_resource(
    app: Any, openedx: OpenEdx, pool: Pool
) -> None:
    _register(app, openedx)
    teacher = Browser()
    picker = openedx.open(
        teacher, message_type="LtiDeepLinkingRequest", role="instructor", user="t-1"
    )
    returned = teacher.submit(
        picker, form_id="choose", extra=[("resource", str(pool.s1_school))]
    )
    assert teacher.submit(returned).json() == {"saved": 1}
    (item,) = openedx.items()

    # The course's custom values edited to name school s2's own resource.
    forged = {
        key: str(pool.s2_school) if str(value) == str(pool.s1_school) else value
        for key, value in item["custom"].items()
    }
    assert forged != item["custom"]
    page = openedx.open(
        Browser(),
        role="student",
        user="l-1",
        url=item["url"],
        custom=json.dumps(forged),
    )
    assert page.status_code in (403, 404)
    assert pool.title(pool.s2_school) not in page.text
