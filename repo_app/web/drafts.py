"""What a visitor typed into a form whose session expired, kept until they are back.

When a form is sent after its session ended (or its CSRF token no longer matches),
:func:`keep` writes the fields to a file in ``$KEJIAN_HOME/drafts`` and puts only a
random id in the new session; after signing in, the page that showed the form is shown
again and :class:`repo_app.web.forms.KejianForm` fills itself from :func:`take`. The
visitor checks the values and sends the form again, with a fresh token: nothing is
re-posted behind their back (a forged cross-site post could otherwise be replayed).

Passwords and CSRF tokens are never kept. Drafts are removed when taken, and any older
than a day when another is written.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

from flask import session
from werkzeug.datastructures import MultiDict

from repo_app.runtime import runtime

MAX_AGE_S = 24 * 3600
_SESSION_KEY = "draft"


def _folder() -> Path:
    folder = runtime().settings.home / "drafts"
    folder.mkdir(exist_ok=True)
    return folder


def _kept(name: str) -> bool:
    return name != "csrf_token" and "password" not in name


def keep(path: str, form: MultiDict[str, str]) -> None:
    """Keep *form*'s fields (less passwords and tokens) for the page at *path*."""
    fields = [(k, v) for k, v in form.items(multi=True) if _kept(k)]
    if not fields:
        return
    folder = _folder()
    cutoff = time.time() - MAX_AGE_S
    for old in folder.glob("*.json"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    draft_id = secrets.token_urlsafe(18)
    (folder / f"{draft_id}.json").write_text(
        json.dumps({"path": path, "fields": fields}, ensure_ascii=False)
    )
    session[_SESSION_KEY] = draft_id


def take(path: str, form_name: str) -> MultiDict[str, str] | None:
    """The fields kept for the form *form_name* of the page at *path*, removed as they
    are read; None when there are none."""
    draft_id = session.get(_SESSION_KEY)
    if (
        not isinstance(draft_id, str)
        or not draft_id.replace("-", "").replace("_", "").isalnum()
    ):
        return None
    file = _folder() / f"{draft_id}.json"
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        session.pop(_SESSION_KEY, None)
        return None
    fields = MultiDict([(k, v) for k, v in data.get("fields", [])])
    if data.get("path") != path or fields.get("form_name") != form_name:
        return None
    session.pop(_SESSION_KEY, None)
    file.unlink(missing_ok=True)
    return fields
