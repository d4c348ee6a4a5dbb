"""The home page and the language switch; and how to add a page group.

1. **Blueprint.** A module here with ``bp = Blueprint("upload", __name__,
   url_prefix="/upload")``, registered in :func:`repo_app.web.init_web`. A form posts
   to the address of the page that shows it, and answers a success with a 303
   redirect (post/redirect/get).
2. **Views stay thin.** Build a :class:`~repo_app.web.forms.KejianForm` (it carries the
   CSRF token and refills itself after an expired session), call one service with
   :func:`~repo_app.auth.current_principal` through
   :func:`~repo_app.web.forms.commit_or_show` (which shows a service's refusal next to
   the field it names), then render or redirect. Guard views with
   :func:`~repo_app.web.access.login_required` or ``role_required(Role.UPLOADER)``;
   services check the organisation acted on.
3. **Templates** extend ``base.html`` and fill ``title`` and ``main``; ``head`` takes
   extra ``<link>``/``<meta>``, ``scripts`` extra ``<script src=… defer>`` (or
   ``type="module"``). Link files with ``asset_url("js/upload.js")`` or
   ``asset_url("vendor/tus/tus.min.js")`` (vendor files: ``make assets``). No inline
   script, style or ``on…=`` attribute: the Content-Security-Policy refuses them; hand
   values to scripts in ``data-`` attributes. Render fields with the macros of
   ``macros/forms.html`` (label, hint and error next to each field) and put
   ``novalidate`` on forms.
4. **Scripts** that write through the API use ``kejian.fetch(url, options)`` from
   ``static/js/kejian.js``: it sends the session's CSRF token in ``X-CSRFToken``.
5. **Words** go through ``_()`` (templates, views) or ``_l()`` (module level: form
   labels, navigation). Then ``python scripts/catalogues.py update``, translate the new
   entries of ``translations/zh_Hans_CN/LC_MESSAGES/messages.po`` and
   ``make translations``; ``tests/web/test_i18n.py`` fails while one is missing.
6. **Navigation.** ``nav.add("upload.index", _l("Upload"), order=30,
   visible=nav.has_role(Role.UPLOADER))`` at import of the module.
7. **Tests.** View tests with the ``pages`` fixture (sign in, send forms with their
   token) on both databases; browser tests marked ``browser`` with ``page``,
   ``login``, ``screenshots``, ``throttle``, ``page_weight`` and ``live_server``
   (``live_server.import_corpus("pdf", "s1")`` adds resources); see
   ``tests/web/conftest.py``.
"""

from __future__ import annotations

from flask import Blueprint, render_template
from werkzeug.wrappers import Response

from repo_app.web import i18n

bp = Blueprint("pages", __name__)


@bp.get("/")
def home() -> str:
    return render_template("home.html")


@bp.get("/lang/<code>")
def language(code: str) -> Response:
    return i18n.switch_language(code)
