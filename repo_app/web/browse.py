"""Browsing the catalogue: 学段 → 学科 → 教材版本 → 年级·册 → 章节.

``/browse`` lists the stages, ``/browse/<stage>`` its subjects and so on down to a
book's chapters (the steps of :mod:`repo_app.services.browse`). Every entry shows how
many resources the visitor may see there, says so when there are none, and links one
step down and to the search page filtered to it.
"""

from __future__ import annotations

from flask import Blueprint, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from repo_app.auth import current_principal
from repo_app.services import browse
from repo_app.web import display, nav
from repo_app.web.search import search_url

bp = Blueprint("browse", __name__)
bp.context_processor(display.template_helpers)

nav.add("browse.index", _l("Browse"), order=10)

#: What each step lists, as the heading of its list.
LIST_TITLES = {
    "stages": _l("Stages"),
    "subjects": _l("Subjects"),
    "editions": _l("Textbook editions"),
    "books": _l("Grades and volumes"),
    "chapters": _l("Chapters"),
}


@bp.get("/browse", defaults={"path": ""})
@bp.get("/browse/<path:path>")
def index(path: str) -> str:
    step = browse.step(current_principal(), path)
    crumbs = _crumbs(step)
    return render_template(
        "browse/step.html",
        step=step,
        crumbs=crumbs,
        # The place named in full: 初中 · 数学 · 人教版 · 七年级 上册.
        heading=" · ".join(label for label, _url in crumbs[1:]) or _("Browse"),
        list_title=LIST_TITLES[step.level],
        search_url=search_url,
    )


def _crumbs(step: browse.Step) -> list[tuple[str, str]]:
    """(label, address) of the top and of each step of the trail; a book's grade
    and volume make one step."""
    crumbs = [(_("All stages"), url_for("browse.index"))]
    codes = [code for _name, code in step.trail]
    for depth, (name, code) in enumerate(step.trail[:3], start=1):
        path = "/".join(codes[:depth])
        crumbs.append(
            (display.term_label(name, code), url_for("browse.index", path=path))
        )
    if len(codes) == len(browse.PATH_FIELDS):
        label = display.book_label(codes[3], codes[4])
        crumbs.append((label, url_for("browse.index", path="/".join(codes))))
    return crumbs
