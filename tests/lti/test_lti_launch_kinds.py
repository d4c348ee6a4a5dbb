"""What a learner is shown when a resource placed in a course is launched, for each
kind of file: a PDF, a video (sought by Range requests through the launch), an
audio file, an image and course packages (their outline). Files come from
``../shared/corpus`` (see its MANIFEST.tsv)."""

from __future__ import annotations

import io
import zipfile

import pytest
from lxml import etree

from tests.conftest import CORPUS
from tests.lti.conftest import Browser, Shown, launched
from tests.lti.platform import Platform


def downloaded(shown: Shown) -> None:
    """The page's download button gives the whole file as an attachment."""
    url = shown.file_url('//a[contains(@class, "download")]', "href")
    answer = shown.browser.get(url)
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"].startswith("attachment")
    assert answer.content == shown.data


def test_a_pdf_is_drawn_in_the_page(
    app, api, kejian: str, platform: Platform, browser: Browser
) -> None:
    shown = launched(app, api, kejian, platform, browser, "pdf/issue2128r.pdf")
    # pdf.js draws the pages from the file, fetched through the launch.
    url = shown.file_url('//div[@class="pdf-viewer"]', "data-pdf")
    assert shown.doc.xpath('//script[contains(@src, "js/resource")]')
    answer = shown.browser.get(url)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.content == shown.data
    downloaded(shown)


def test_a_video_plays_and_seeks_by_range_requests(
    app, api, kejian: str, platform: Platform, browser: Browser
) -> None:
    shown = launched(
        app,
        api,
        kejian,
        platform,
        browser,
        "media/rabbit320.mp4",
        "media/subtitles_en.vtt",
    )
    url = shown.file_url('//video[contains(@class, "media")]')
    # The WebVTT file beside it is its subtitles track, not a file of its own.
    track = shown.file_url('//video[contains(@class, "media")]/track')
    assert shown.browser.get(track).content == (
        CORPUS / "media/subtitles_en.vtt"
    ).read_bytes()
    assert len(shown.doc.xpath('//section[contains(@class, "file")]')) == 1

    # The player asks for a part of the file: exactly those bytes come back.
    part = shown.browser.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.headers["Content-Type"] == "video/mp4"
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(shown.data)}"
    assert part.content == shown.data[1000:2000]
    # And the end of the file, as a player seeking to the end asks for it.
    tail = shown.browser.get(url, headers={"Range": "bytes=-500"})
    assert tail.status_code == 206
    assert tail.content == shown.data[-500:]
    downloaded(shown)


@pytest.mark.parametrize(
    ("path", "element", "media_type"),
    [
        ("media/bear.mp3", '//audio[contains(@class, "media")]', "audio/mpeg"),
        ("media/hopper.jpg", '//img[contains(@class, "image-preview")]', "image/jpeg"),
    ],
    ids=["audio", "image"],
)
def test_audio_and_images_are_shown_in_the_page(
    app,
    api,
    kejian: str,
    platform: Platform,
    browser: Browser,
    path: str,
    element: str,
    media_type: str,
) -> None:
    shown = launched(app, api, kejian, platform, browser, path)
    answer = shown.browser.get(shown.file_url(element))
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == media_type
    assert answer.content == shown.data
    downloaded(shown)


def manifest_titles(data: bytes) -> list[str]:
    """The titles of the items of the package's (default) organisation, in order,
    read from its ``imsmanifest.xml`` here, independently of Kejian's reader."""
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        root = etree.fromstring(package.read("imsmanifest.xml"))
    titles = root.xpath(
        '//*[local-name()="organization"][1]//*[local-name()="item"]'
        '/*[local-name()="title"]/text()'
    )
    return [t.strip() for t in titles if t.strip()]


@pytest.mark.parametrize(
    "path", ["package/singlescobasic.zip", "package/modules.imscc"]
)
def test_a_package_shows_its_outline(
    app, api, kejian: str, platform: Platform, browser: Browser, path: str
) -> None:
    shown = launched(app, api, kejian, platform, browser, path)
    entries = shown.doc.xpath('//div[@class="outline"]//li')
    assert entries, shown.page.text[:1500]
    # Each entry's own title, without its children's.
    own = [(e.text or "").strip() for e in entries]
    assert own == manifest_titles(shown.data)
    downloaded(shown)
