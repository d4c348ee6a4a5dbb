"""The LTI tool's settings, read from ``KEJIAN_LTI_*`` variables at start-up.

Flask configuration keys of the same names (``create_app(..., KEJIAN_LTI_LEEWAY=5)``)
win over the environment, which is how tests set them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from config.settings import SettingsError


@dataclass(frozen=True)
class LtiSettings:
    #: Seconds of clock difference accepted on an id_token's iat, nbf and exp.
    leeway_seconds: int = 60
    #: Reverse proxies in front of Kejian whose X-Forwarded-* headers are believed.
    trusted_proxies: int = 0
    #: Shortest interval between two fetches of one platform's key set on an unknown
    #: kid, so that tokens with made-up kids cannot make Kejian hammer a platform.
    keyset_refetch_seconds: int = 60
    #: How long a fetched platform key set is used before it is fetched again.
    keyset_cache_seconds: int = 3600
    #: How long the old tool key stays in /lti/jwks after ``kejian lti rotate-key``.
    key_retire_days: int = 7
    #: Who may frame the LTI pages (CSP frame-ancestors). Canvas frames from each
    #: school's own domain, so the default cannot list platforms one by one.
    frame_ancestors: str = "*"
    #: Largest form an LTI endpoint reads; an id_token is a few kilobytes.
    max_form_bytes: int = 64 * 1024
    #: Hosts (names, addresses or networks) whose platforms may register by Dynamic
    #: Registration; empty: any host but loopback, link-local and other addresses
    #: no platform has (see :mod:`lti.dynamic`).
    registration_hosts: tuple[str, ...] = ()


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = str(env.get(name, "")).strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def load_lti_settings(env: Mapping[str, str]) -> LtiSettings:
    """Read the LTI settings from *env*.

    :raises SettingsError: naming the first variable that cannot be used.
    """
    ancestors = str(env.get("KEJIAN_LTI_FRAME_ANCESTORS", "")).strip() or "*"
    if any(ch in ancestors for ch in ";,\r\n"):
        raise SettingsError(
            "KEJIAN_LTI_FRAME_ANCESTORS is a space-separated list of origins, got "
            f"{ancestors!r}"
        )
    hosts = tuple(str(env.get("KEJIAN_LTI_REGISTRATION_HOSTS", "")).split())
    for host in hosts:
        if "/" in host and parse_network(host) is None:
            raise SettingsError(
                "KEJIAN_LTI_REGISTRATION_HOSTS lists host names, addresses and "
                f"networks such as 10.0.0.0/8, got {host!r}"
            )
    return LtiSettings(
        registration_hosts=hosts,
        leeway_seconds=_int(env, "KEJIAN_LTI_LEEWAY_SECONDS", 60, 0, 600),
        trusted_proxies=_int(env, "KEJIAN_LTI_TRUSTED_PROXIES", 0, 0, 5),
        keyset_refetch_seconds=_int(
            env, "KEJIAN_LTI_KEYSET_REFETCH_SECONDS", 60, 0, 3600
        ),
        keyset_cache_seconds=_int(
            env, "KEJIAN_LTI_KEYSET_CACHE_SECONDS", 3600, 0, 86400
        ),
        key_retire_days=_int(env, "KEJIAN_LTI_KEY_RETIRE_DAYS", 7, 1, 90),
        frame_ancestors=ancestors,
    )


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """*text* as an address or network (``10.0.0.0/8``), else ``None``."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
