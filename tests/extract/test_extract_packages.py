"""Courseware packages generated in the test: types, titles, outlines, text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from indexer.extract import extract

MakeZip = Callable[..., bytes]
Write = Callable[[str, bytes], Path]

SCORM_2004_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="m1" xmlns="http://www.imsglobal.org/xsd/imscp_v1p1"
    xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_v1p3">
  <metadata>
    <schema>ADL SCORM</schema>
    <schemaversion>2004 4th Edition</schemaversion>
  </metadata>
  <organizations default="org">
    <organization identifier="org">
      <title>初中物理：力与运动</title>
      <item identifier="i1">
        <title>第一章 力</title>
        <item identifier="i11" identifierref="r1"><title>重力</title></item>
        <item identifier="i12" identifierref="r2" parameters="?page=2">
          <title>弹力</title>
        </item>
      </item>
    </organization>
  </organizations>
  <resources>
    <resource identifier="r1" type="webcontent" adlcp:scormType="sco"
        href="ch1/gravity.html"/>
    <resource identifier="r2" type="webcontent" adlcp:scormType="sco"
        href="ch1/elastic.html"/>
  </resources>
</manifest>
"""

GRAVITY_PAGE = (
    "<html><body><p>地球对物体的吸引\n力叫做重力。</p>"
    "<script>var answer = 'hidden';</script></body></html>"
)


def test_scorm_2004_outline_title_and_text(make_zip: MakeZip, write: Write) -> None:
    path = write(
        "physics.zip",
        make_zip(
            {
                "imsmanifest.xml": SCORM_2004_MANIFEST.encode(),
                "ch1/gravity.html": GRAVITY_PAGE.encode(),
                "ch1/elastic.html": "<p>弹力</p>".encode(),
                "ch1/worksheet.pdf": b"%PDF-1.4 not really a pdf",
            }
        ),
    )

    result = extract(path)

    assert (result.kind, result.package_type, result.mime) == (
        "package",
        "scorm2004",
        "application/zip",
    )
    assert result.title == "初中物理：力与运动"
    assert result.outline == [
        {
            "title": "第一章 力",
            "href": None,
            "children": [
                {"title": "重力", "href": "ch1/gravity.html", "children": []},
                {"title": "弹力", "href": "ch1/elastic.html?page=2", "children": []},
            ],
        }
    ]
    # The page's wrapped line is joined, its script left out.
    assert "地球对物体的吸引力叫做重力。" in result.text
    assert "hidden" not in result.text
    assert result.status == "ok"
    # The fake PDF inside is noted, not fatal.
    assert any("ch1/worksheet.pdf" in problem for problem in result.problems)


def test_scorm_12_with_missing_launch_page(make_zip: MakeZip, write: Write) -> None:
    manifest = """<manifest identifier="m" version="1"
        xmlns="http://www.imsproject.org/xsd/imscp_rootv1p1p2"
        xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2">
      <metadata><schema>ADL SCORM</schema><schemaversion>1.2</schemaversion></metadata>
      <organizations default="o"><organization identifier="o"><title>Golf</title>
        <item identifier="i" identifierref="r"><title>Play</title></item>
      </organization></organizations>
      <resources><resource identifier="r" type="webcontent" adlcp:scormtype="sco"
        href="missing/index.html"/></resources>
    </manifest>"""
    path = write("golf.zip", make_zip({"imsmanifest.xml": manifest.encode()}))

    result = extract(path)

    assert result.package_type == "scorm12"
    assert result.status == "partial"
    assert any("missing/index.html" in problem for problem in result.problems)


def test_manifest_in_a_subfolder_is_rejected(make_zip: MakeZip, write: Write) -> None:
    path = write(
        "deep.zip",
        make_zip({"course/imsmanifest.xml": SCORM_2004_MANIFEST.encode()}),
    )

    result = extract(path)

    assert (result.kind, result.status) == ("package", "rejected")
    assert "inside 'course/'" in result.problems[0]


def test_malformed_manifest_is_rejected(make_zip: MakeZip, write: Write) -> None:
    path = write("bad.zip", make_zip({"imsmanifest.xml": b"<html>not a manifest"}))

    result = extract(path)

    assert result.status == "rejected"
    assert "not a valid IMS manifest" in result.problems[0]


def test_manifest_entities_are_not_resolved(make_zip: MakeZip, write: Write) -> None:
    manifest = """<?xml version="1.0"?>
    <!DOCTYPE manifest [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
    <manifest xmlns="http://www.imsglobal.org/xsd/imscp_v1p1">
      <organizations default="o"><organization identifier="o">
        <title>&secret;</title>
        <item identifier="i" identifierref="r"><title>Page</title></item>
      </organization></organizations>
      <resources><resource identifier="r" type="webcontent" href="a.html"/></resources>
    </manifest>"""
    path = write(
        "xxe.zip",
        make_zip({"imsmanifest.xml": manifest.encode(), "a.html": b"<p>page</p>"}),
    )

    result = extract(path)

    assert result.package_type == "ims-cp"
    assert "root:" not in (result.title or "") + result.text


def test_common_cartridge_with_untitled_wrapper(
    make_zip: MakeZip, write: Write
) -> None:
    manifest = """<manifest identifier="cc"
        xmlns="http://www.imsglobal.org/xsd/imsccv1p3/imscp_v1p1"
        xmlns:lomimscc="http://ltsc.ieee.org/xsd/imsccv1p3/LOM/manifest">
      <metadata>
        <schema>IMS Common Cartridge</schema><schemaversion>1.3.0</schemaversion>
        <lomimscc:lom><lomimscc:general><lomimscc:title>
          <lomimscc:string>高一化学</lomimscc:string>
        </lomimscc:title></lomimscc:general></lomimscc:lom>
      </metadata>
      <organizations><organization identifier="o" structure="rooted-hierarchy">
        <item identifier="LearningModules">
          <item identifier="m1"><title>第一单元</title>
            <item identifier="p1" identifierref="r1"><title>物质的量</title></item>
          </item>
        </item>
      </organization></organizations>
      <resources><resource identifier="r1" type="webcontent"
        href="wiki_content/mole.html"><file href="wiki_content/mole.html"/></resource>
      </resources>
    </manifest>"""
    path = write(
        "chem.imscc",
        make_zip(
            {
                "imsmanifest.xml": manifest.encode(),
                "wiki_content/mole.html": "<p>摩尔是物质的量的单位。</p>".encode(),
            }
        ),
    )

    result = extract(path)

    assert (result.package_type, result.title, result.status) == (
        "imscc",
        "高一化学",
        "ok",
    )
    assert result.outline == [
        {
            "title": "第一单元",
            "href": None,
            "children": [
                {"title": "物质的量", "href": "wiki_content/mole.html", "children": []}
            ],
        }
    ]
    assert "摩尔是物质的量的单位。" in result.text


def test_qti_21_items(make_zip: MakeZip, write: Write) -> None:
    manifest = """<manifest identifier="q" xmlns="http://www.imsglobal.org/xsd/imscp_v1p1">
      <organizations/>
      <resources><resource identifier="item1" type="imsqti_item_xmlv2p1"
        href="items/q1.xml"/></resources>
    </manifest>"""
    item = """<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1"
        identifier="q1" title="勾股定理">
      <itemBody><p>直角三角形两直角边为3和4，斜边是多少？</p></itemBody>
    </assessmentItem>"""
    path = write(
        "quiz.zip",
        make_zip({"imsmanifest.xml": manifest.encode(), "items/q1.xml": item.encode()}),
    )

    result = extract(path)

    assert (result.package_type, result.status) == ("qti21", "ok")
    assert result.outline == [
        {"title": "q1.xml", "href": "items/q1.xml", "children": []}
    ]
    assert "斜边是多少" in result.text


def test_cmi5_course_structure(make_zip: MakeZip, write: Write) -> None:
    structure = """<courseStructure
        xmlns="https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd">
      <course id="c">
        <title><langstring lang="zh-CN">安全教育</langstring></title>
      </course>
      <block id="b"><title><langstring>第一模块</langstring></title>
        <au id="a1">
          <title><langstring>防火</langstring></title><url>au1/index.html</url>
        </au>
      </block>
    </courseStructure>"""
    path = write(
        "cmi5.zip",
        make_zip(
            {
                "cmi5.xml": structure.encode(),
                "au1/index.html": "<p>发生火灾时拨打119。</p>".encode(),
            }
        ),
    )

    result = extract(path)

    assert (result.package_type, result.title, result.status) == (
        "cmi5",
        "安全教育",
        "ok",
    )
    assert result.outline == [
        {
            "title": "第一模块",
            "href": None,
            "children": [{"title": "防火", "href": "au1/index.html", "children": []}],
        }
    ]
    assert "发生火灾时拨打119。" in result.text


def test_aicc_descriptors(make_zip: MakeZip, write: Write) -> None:
    path = write(
        "aicc.zip",
        make_zip(
            {
                "course.crs": b"[Course]\r\nCourse_Title=Fire Safety\r\n",
                "course.au": (
                    b'"System_ID","Type","File_Name"\r\n"A1","lesson","a1.html"\r\n'
                ),
                "course.des": b'"System_ID","Title"\r\n"A1","Lesson one"\r\n',
                "course.cst": b'"block","member"\r\n"root","A1"\r\n',
                "a1.html": b"<p>Exits are marked in green.</p>",
            }
        ),
    )

    result = extract(path)

    assert (result.package_type, result.title, result.status) == (
        "aicc",
        "Fire Safety",
        "ok",
    )
    assert result.outline == [
        {"title": "Lesson one", "href": "a1.html", "children": []}
    ]
    assert "Exits are marked in green." in result.text


def test_package_reading_stops_at_the_time_limit(
    make_zip: MakeZip, write: Write
) -> None:
    from indexer.extract import Limits

    entries = {f"p{i}.html": f"<p>page {i}</p>".encode() for i in range(50)}
    entries["imsmanifest.xml"] = SCORM_2004_MANIFEST.encode()
    path = write("slow.zip", make_zip(entries))

    result = extract(path, limits=Limits(max_seconds=0.0))

    assert result.status == "partial"
    assert any("time limit" in problem for problem in result.problems)
