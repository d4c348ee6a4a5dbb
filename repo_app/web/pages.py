"""The home page and the language switch.

Adding a page group (browse, search, upload, review, workspace ...):

1. a module here with ``bp = Blueprint("upload", __name__, url_prefix="/upload")``,
   registered in :func:`repo_app.web.init_web`;
2. views that stay thin: parse a :class:`~repo_app.web.forms.KejianForm`, call one
   service with :func:`~repo_app.auth.current_principal`, render or redirect (303);
   protect them with :func:`~repo_app.web.access.login_required` or ``role_required``;
3. templates that extend ``base.html`` and fill ``title`` and ``main`` (and ``head``
   and ``scripts`` for their own CSS and JavaScript files, linked with
   ``asset_url()``); every text through ``_()``;
4. a navigation entry with :func:`repo_app.web.nav.add`.
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
