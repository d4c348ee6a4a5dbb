"""The language of each page: Chinese by default, English on request.

The language is the ``kejian_lang`` cookie when the visitor has chosen one with the
switch in the header, else the best match of the browser's ``Accept-Language``, else
Chinese. Catalogues are ``repo_app/translations/<locale>/LC_MESSAGES/messages.po``,
compiled to ``.mo`` by ``make translations`` (see the Makefile); the zh_CN catalogue is
in ``zh_Hans_CN/``, the name Babel gives zh_CN (see ``scripts/catalogues.py``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, redirect, request
from flask_babel import get_locale
from werkzeug.wrappers import Response

from repo_app.web.https import cookies_secure

DEFAULT_LOCALE = "zh_CN"
#: Locale code -> (BCP 47 tag for ``lang=`` attributes, the language's own name).
LOCALES: dict[str, tuple[str, str]] = {
    "zh_CN": ("zh-CN", "中文"),
    "en": ("en", "English"),
}
COOKIE = "kejian_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


def select_locale() -> str:
    chosen = request.cookies.get(COOKIE, "")
    if chosen in LOCALES:
        return chosen
    tags = {tag: code for code, (tag, _) in LOCALES.items()}
    # Werkzeug compares primary tags when nothing matches exactly: zh-TW and zh-HK
    # browsers get Chinese, en-GB gets English.
    best = request.accept_languages.best_match(list(tags))
    return tags.get(best or "", DEFAULT_LOCALE)


def current_locale() -> str:
    """The page's locale as :data:`LOCALES` names it (``zh_CN`` or ``en``)."""
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else DEFAULT_LOCALE


def html_lang() -> str:
    """The ``lang`` attribute of the page: ``zh-CN`` or ``en``."""
    return LOCALES.get(current_locale(), LOCALES[DEFAULT_LOCALE])[0]


def vocab_lang() -> str:
    """The label language of the vocabularies (``zh`` or ``en``) for this page."""
    return "en" if current_locale() == "en" else "zh"


def local_path(target: str | None, default: str = "/") -> str:
    """*target* when it is a path on this site, else *default*.

    Guards every redirect to a user-supplied place (``next``) against sending the
    visitor to another site: ``//evil.example`` and ``/\\evil`` are refused too.
    """
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 32 for ch in target)
    ):
        return default
    return target


def switch_language(code: str) -> Response:
    """Remember *code* in the cookie and go back to ``?next=`` (a local path)."""
    response = redirect(local_path(request.args.get("next")), code=303)
    if code in LOCALES:
        response.set_cookie(
            COOKIE,
            code,
            max_age=COOKIE_MAX_AGE,
            samesite="Lax",
            httponly=True,
            secure=cookies_secure(),
        )
    return response


def init_i18n(app: Flask) -> None:
    @app.context_processor
    def _languages() -> dict[str, Any]:
        return {
            "html_lang": html_lang,
            "current_locale": current_locale,
            "vocab_lang": vocab_lang,
            "locales": LOCALES,
        }
