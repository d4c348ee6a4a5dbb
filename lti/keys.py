"""The tool's signing keys: made on first use, encrypted at rest, rotated by command.

Private keys are stored as Fernet tokens (AES-128-CBC with HMAC-SHA256, from
``cryptography``) under a key derived from ``KEJIAN_SECRET_KEY`` with HKDF, so the
database alone opens none of them. After :func:`rotate` the old key signs nothing but
stays in the key set until it expires, because platforms cache key sets and may still
verify a deep-linking response signed a moment before the rotation.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwcrypto.jwk import JWK  # type: ignore[import-untyped]
from sqlalchemy import select

from lti.models import KeyStatus, ToolKey
from repo_app.errors import ServiceUnavailable
from repo_app.extensions import db

log = logging.getLogger("kejian.lti")

#: Bits of a new tool key: 2048 is what platforms expect and verify quickly.
KEY_BITS = 2048


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: str
    public_pem: str


def _fernet(secret_key: str) -> Fernet:
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"kejian-lti-keys"
    )
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(secret_key.encode("utf-8"))))


def public_jwk(public_pem: str) -> dict[str, Any]:
    """The public key as a JWK: kty, n, e, kid (its RFC 7638 thumbprint), alg, use."""
    jwk = JWK.from_pem(public_pem.encode("ascii"))
    data: dict[str, Any] = json.loads(jwk.export_public())
    return {
        "kty": data["kty"],
        "n": data["n"],
        "e": data["e"],
        "kid": jwk.thumbprint(),
        "alg": "RS256",
        "use": "sig",
    }


def _new_key(secret_key: str) -> ToolKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = (
        private.public_key()
        .public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode("ascii")
    )
    return ToolKey(
        kid=public_jwk(public_pem)["kid"],
        public_pem=public_pem,
        private_encrypted=_fernet(secret_key).encrypt(private_pem).decode("ascii"),
        status=KeyStatus.ACTIVE,
    )


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every time here is UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def active_key(secret_key: str) -> SigningKey:
    """The key that signs, made (and committed) on first use.

    :raises ServiceUnavailable: when the stored key cannot be decrypted, which means
        ``KEJIAN_SECRET_KEY`` changed since the key was made.
    """
    key = db.session.scalar(
        select(ToolKey)
        .where(ToolKey.status == KeyStatus.ACTIVE)
        .order_by(ToolKey.id.desc())
        .limit(1)
    )
    if key is None:
        key = _new_key(secret_key)
        db.session.add(key)
        db.session.commit()
        log.info("LTI tool key made: kid=%s", key.kid)
    try:
        private_pem = _fernet(secret_key).decrypt(key.private_encrypted.encode("ascii"))
    except InvalidToken:
        raise ServiceUnavailable(
            "The LTI tool key cannot be decrypted: KEJIAN_SECRET_KEY is not the one it "
            "was made with. Restore that key, or make a new tool key with "
            "'kejian lti rotate-key' and let the platforms fetch /lti/jwks again.",
            details={"kid": key.kid},
        ) from None
    return SigningKey(
        kid=key.kid, private_pem=private_pem.decode("ascii"), public_pem=key.public_pem
    )


def published_keys(now: datetime | None = None) -> list[dict[str, Any]]:
    """Every key a platform may meet in a signature: the active ones and those retiring
    whose time has not run out, newest first."""
    now = now or datetime.now(UTC)
    keys = db.session.scalars(select(ToolKey).order_by(ToolKey.id.desc()))
    return [
        public_jwk(k.public_pem)
        for k in keys
        if k.status is KeyStatus.ACTIVE or (_aware(k.expires_at) or now) > now
    ]


def rotate(secret_key: str, retire_days: int) -> tuple[ToolKey, list[ToolKey]]:
    """Make a new active key; the old active keys retire after *retire_days*.

    Works even when the old keys can no longer be decrypted. The caller commits.

    :returns: the new key and the keys it retired.
    """
    now = datetime.now(UTC)
    retired = list(
        db.session.scalars(select(ToolKey).where(ToolKey.status == KeyStatus.ACTIVE))
    )
    for key in retired:
        key.status = KeyStatus.RETIRING
        key.expires_at = now + timedelta(days=retire_days)
    new = _new_key(secret_key)
    db.session.add(new)
    # Expired keys are of no use to anyone; drop them while we are here.
    for old in db.session.scalars(
        select(ToolKey).where(ToolKey.status == KeyStatus.RETIRING)
    ):
        if (_aware(old.expires_at) or now) < now:
            db.session.delete(old)
    return new, retired
