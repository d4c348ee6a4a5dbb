"""Keep the web pages' message catalogues in step with the code.

    python scripts/catalogues.py update   # after adding or changing a message
    python scripts/catalogues.py check    # exit 1 when a message lacks a translation

``update`` extracts every ``_()``/``_l()`` message of ``repo_app`` (``babel.cfg``),
merges it into ``repo_app/translations/{zh_Hans_CN,en}/LC_MESSAGES/messages.po`` (the
zh_CN catalogue is filed under Babel's name for it) and fills the English catalogue
(whose messages are the English text itself). Translate the new Chinese entries by
hand. ``make translations`` compiles the ``.po`` files to ``.mo``.
"""

from __future__ import annotations

import sys
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

REPO = Path(__file__).resolve().parents[1]
TRANSLATIONS = REPO / "repo_app" / "translations"
#: zh_CN's catalogue is in zh_Hans_CN/: Babel reads "zh_CN" as zh_Hans_CN (CLDR adds the
#: script), and Flask-Babel looks for the catalogue under that name.
LOCALES = ("zh_Hans_CN", "en")
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "_l": None,
    "lazy_gettext": None,
}
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
HEADER = (
    "# Kejian's web pages. Written by `python scripts/catalogues.py update`;\n"
    "# translate new entries by hand, then `make translations` compiles them."
)


def extract() -> Catalog:
    """Every message the code and templates use, with where they are used."""
    template = Catalog(project="kejian", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(REPO / "repo_app"), METHODS, keywords=KEYWORDS
    ):
        template.add(
            message, None, [(filename, lineno)], auto_comments=comments, context=context
        )
    return template


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def load(locale: str) -> Catalog:
    with po_path(locale).open("rb") as fh:
        return read_po(fh, locale=locale)


def update() -> None:
    template = extract()
    for locale in LOCALES:
        path = po_path(locale)
        if path.exists():
            catalog = load(locale)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=locale, project="kejian", charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        # A header marked fuzzy makes `pybabel compile` skip the whole catalogue.
        catalog.fuzzy = False
        catalog.header_comment = HEADER
        if locale == "en":
            for message in catalog:
                # A plural message (ngettext) holds a tuple of forms: English's two
                # are its singular and plural ids.
                forms = message.string if message.pluralizable else [message.string]
                empty = not any(forms)
                if message.id and empty:
                    message.string = message.id
        out = BytesIO()
        write_po(
            out,
            catalog,
            omit_header=False,
            sort_output=True,
            width=88,
            include_lineno=False,
        )
        path.write_bytes(out.getvalue())
        print(f"{path.relative_to(REPO)}: {len(catalog)} messages")


def problems() -> list[str]:
    """Messages missing from a catalogue, untranslated, or marked fuzzy."""
    wanted = {m.id for m in extract() if m.id}
    found = []
    for locale in LOCALES:
        catalog = load(locale)
        have = {m.id: m for m in catalog if m.id}
        for msgid in sorted(wanted - set(have), key=str):
            found.append(f"{locale}: missing {msgid!r}")
        for msgid, message in have.items():
            # A plural message's string is a tuple: every form must be there.
            strings = (
                message.string
                if isinstance(message.string, tuple)
                else (message.string,)
            )
            if msgid in wanted and (not all(strings) or message.fuzzy):
                found.append(f"{locale}: untranslated {msgid!r}")
    return found


def main(argv: list[str]) -> int:
    if argv[1:] == ["update"]:
        update()
        return 0
    if argv[1:] == ["check"]:
        found = problems()
        print("\n".join(found) or "catalogues complete")
        return 1 if found else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
