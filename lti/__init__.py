"""Kejian as an LTI 1.3 tool: Deep Linking, resource launches, Dynamic Registration.

Built on **pylti1p3next 2.0.2**, the maintained fork of pylti1p3, pinned exactly in
``pyproject.toml``. It installs the same ``pylti1p3`` package as upstream 2.0.0, whose
last release was in 2022 and which therefore lacks what today's platforms need and this
fork has: the Dynamic Registration flow (Moodle 4.1+ registers tools that way),
``Partitioned`` cookies (the only third-party cookies Chrome and Safari keep in an
LMS iframe), typed PyJWT options, and distinct exception classes (key, nonce, message)
that :mod:`lti.errors` turns into readable refusals. Both versions leave the same gaps
(no clock-skew leeway, no audience check, nonces that can be reused, no key-set
refetch, state in the framework session); :mod:`lti.tool` fills them by subclassing.
The fork's Flask cookie-check page renders ``cookies_allowed_js_check.html``, which
this package provides.

:func:`init_lti` attaches the tool to the application: settings (:mod:`lti.settings`),
``ProxyFix`` for a configured number of proxies, the ``/lti`` blueprint (exempt from
the site's CSRF check), the tables (:mod:`lti.models`, so that Alembic sees them) and
the ``kejian lti`` commands, and the administration pages (:mod:`lti.admin_pages`)
with their messages.

The pages' messages are in ``lti/translations``, zh_CN (filed as ``zh_Hans_CN``) and
en (``make translations`` compiles ``repo_app``'s catalogues only; :func:`init_lti`
compiles these). Pages that follow a launch (picker, resource, deep-linking return)
are in the language of its ``launch_presentation`` locale, else the browser's.
After changing a message, refresh the catalogues with::

    pybabel extract -F lti/babel.cfg -k _l --add-location=file --sort-output \
        -o /tmp/lti.pot lti
    pybabel update -i /tmp/lti.pot -d lti/translations --no-fuzzy-matching

then translate the new Chinese entries by hand and give each new English entry its
message as its translation.
"""

from __future__ import annotations

import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

__all__ = ["init_lti"]


def init_lti(app: Flask) -> None:
    """Attach the LTI tool to *app*.

    Reads ``KEJIAN_LTI_*`` settings from the environment, or from Flask configuration
    keys of the same names, which win.

    :raises config.settings.SettingsError: for a setting that cannot be used.
    """
    from lti import admin_pages, models  # noqa: F401  (models registers the tables)
    from lti.cli import lti_group
    from lti.settings import load_lti_settings
    from lti.views import after_lti_request, bp
    from repo_app.extensions import csrf

    env = {
        **os.environ,
        **{k: str(v) for k, v in app.config.items() if k.startswith("KEJIAN_LTI_")},
    }
    settings = load_lti_settings(env)
    app.extensions["kejian.lti"] = settings
    if settings.trusted_proxies:
        # Behind a TLS proxy the app sees plain http: without this, cookies would
        # lose Secure and SameSite=None and the launch URL would say http.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n
        )
    # Platforms post launches and login requests cross-site and cannot carry the
    # site's CSRF token; the signed id_token, the state bound to the tool's cookie
    # and the single-use nonce protect these endpoints instead, and the picker's
    # form is bound to its launch by a token and that cookie.
    csrf.exempt(bp)
    app.register_blueprint(bp)
    # The administration pages are site pages: they keep the CSRF check.
    app.register_blueprint(admin_pages.bp)
    _init_translations(app)
    # App-level, so that it runs after the site's page headers (repo_app.web.headers)
    # and can adjust them; a blueprint's after-request hooks run before the app's.
    app.after_request(after_lti_request)
    app.cli.add_command(lti_group)


#: The administration pages' catalogues, one ``.po`` per locale.
TRANSLATIONS = Path(__file__).parent / "translations"


def _init_translations(app: Flask) -> None:
    """Compile LTI's catalogues into the instance folder and add them to Flask-Babel's
    directories, whose messages are merged with the site's."""
    target = Path(app.instance_path) / "lti-translations"
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo = target / po.relative_to(TRANSLATIONS).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as fh:
            catalog = read_po(fh)
        # Written aside and renamed, as several processes may start at once.
        tmp = mo.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog)
        tmp.replace(mo)
    directories = app.config.get("BABEL_TRANSLATION_DIRECTORIES", "translations")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = f"{directories};{target}"
