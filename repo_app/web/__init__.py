"""The web pages: server-rendered Jinja templates with a little progressive JavaScript.

:func:`init_web` attaches everything the pages share: browser sessions (Flask-Login),
CSRF protection of forms (Flask-WTF), the language of each request (Flask-Babel),
the security headers of every page (with ``KEJIAN_HTTPS``, HTTPS-only cookies and
HSTS) and the blueprints. Page groups are blueprints in this package; see ``docs`` in
:mod:`repo_app.web.pages` for how to add one.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, g, request

from repo_app.extensions import babel, csrf, login_manager

__all__ = ["init_web"]

#: Methods a form or script uses to change something; the only ones CSRF-checked.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: What Flask-Login, Flask-Babel, Flask-WTF and our headers keep on ``g``.
_PER_REQUEST = (
    "_login_user",
    "_flask_babel",
    "csrf_token",
    "csrf_valid",
    "csp_nonce",
    "frame_ancestors",
)


def init_web(app: Flask) -> None:
    """Attach sessions, CSRF, languages, security headers and the page blueprints."""
    from repo_app import auth  # noqa: F401 - registers Flask-Login's user loader
    from repo_app.web import access, accounts, admin, assets, headers, i18n, nav, pages
    from repo_app.web import browse, https, resource, search
    from repo_app.web import labels, review, upload, workspace

    # Flask has defaults for these, so they are set, not defaulted. A session lasts
    # 12 hours from the last request (Flask refreshes the cookie on each one).
    app.config.update(
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    https.init_https(app, app.extensions["kejian"].settings.https)
    # The token lives as long as the session: a form left open for an afternoon
    # still sends, and an expired session is handled by repo_app.web.access.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    # The API is not checked by Flask-WTF: token requests need no CSRF token, and
    # session requests are checked in repo_app.auth. Pages are checked below.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", i18n.DEFAULT_LOCALE)

    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    login_manager.unauthorized_handler(access.to_login)

    @app.before_request
    def _check_csrf() -> None:
        # Tests (and CLI-driven requests) may share one app context, and so one `g`,
        # between requests: what the extensions keep there belongs to one request.
        for key in _PER_REQUEST:
            g.pop(key, None)
        if request.method in UNSAFE_METHODS and not request.path.startswith("/api/"):
            # Blueprints marked with csrf.exempt (LTI: platforms post cross-site and
            # sign their messages instead) are skipped.
            csrf.protect(apply_exemptions=True)

    headers.init_headers(app)
    assets.init_assets(app)
    nav.init_nav(app)
    access.init_access(app)
    i18n.init_i18n(app)
    app.context_processor(labels.template_globals)
    for module in (pages, accounts, admin, browse, search, resource):
        app.register_blueprint(module.bp)
    for module in (upload, review, workspace):
        app.register_blueprint(module.bp)
