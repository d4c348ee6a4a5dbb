"""The site navigation: each page group adds its entries, shown by role.

A blueprint module adds an entry once, at import::

    nav.add("upload.index", _l("Upload"), order=30, visible=nav.has_role(Role.UPLOADER))

and the header of :file:`base.html` lists the entries the current principal may see,
so no page group edits the layout to appear in it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, request

from repo_app.models import Role
from repo_app.security import Principal

Visible = Callable[[Principal], bool]


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    #: A lazy string (``flask_babel.lazy_gettext``), translated when rendered.
    label: Any
    order: int
    visible: Visible


_ITEMS: dict[str, NavItem] = {}


def everyone(principal: Principal) -> bool:
    return True


def signed_in(principal: Principal) -> bool:
    return not principal.is_anonymous


def has_role(*roles: Role) -> Visible:
    """Visible to principals holding one of *roles* anywhere."""

    def check(principal: Principal) -> bool:
        return principal.system or any(r in roles for _, r in principal.roles)

    return check


def add(endpoint: str, label: Any, *, order: int, visible: Visible = everyone) -> None:
    """Add (or replace) the entry for *endpoint*; *order* sorts entries left to right
    (browse 10, search 20, upload 30, review 40, workspace 50, administration 90)."""
    _ITEMS[endpoint] = NavItem(endpoint, label, order, visible)


def items_for(principal: Principal, endpoints: set[str]) -> list[dict[str, Any]]:
    """The entries *principal* may see whose endpoint exists, with ``current`` set
    on the one the request is in (same blueprint)."""
    here = (request.endpoint or "").partition(".")[0]
    shown = []
    for item in sorted(_ITEMS.values(), key=lambda i: i.order):
        if item.endpoint in endpoints and item.visible(principal):
            shown.append(
                {
                    "endpoint": item.endpoint,
                    "label": item.label,
                    "current": item.endpoint.partition(".")[0] == here,
                }
            )
    return shown


def init_nav(app: Flask) -> None:
    @app.context_processor
    def _nav() -> dict[str, Any]:
        from repo_app.auth import current_principal

        def nav_items() -> list[dict[str, Any]]:
            return items_for(current_principal(), set(app.view_functions))

        return {"nav_items": nav_items}
