"""pylti1p3, extended where it falls short for real platforms.

The library's classes are subclassed, not copied:

- :class:`DbToolConf` finds registrations in the database by (issuer, client id) and
  applies each registration's policy for unknown deployment ids;
- :class:`ServerSideStorage` keeps login state under the tool's own cookie in the
  database, never in the Flask session (whose cookie an LMS iframe may not send);
- :class:`ToolCookies` sets that one cookie ``Secure; SameSite=None; Partitioned``
  over HTTPS and does not set the library's per-login state cookies;
- :class:`ToolLogin` binds the nonce and the login parameters to the state and only
  redirects to registered launch URLs;
- :class:`ToolLaunch` adds clock-skew leeway, strict ``aud``/``azp``, single-use
  nonces, a bounded key-set refetch on an unknown ``kid`` and readable refusals.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import requests
from flask import Response
from jwcrypto.jwk import JWK  # type: ignore[import-untyped]
from pylti1p3.contrib.flask import (
    FlaskCookieService,
    FlaskMessageLaunch,
    FlaskOIDCLogin,
    FlaskRequest,
)
from pylti1p3.deployment import Deployment as LibDeployment
from pylti1p3.exception import LtiException
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from pylti1p3.message_validators.deep_link import DeepLinkMessageValidator
from pylti1p3.registration import Registration as LibRegistration
from pylti1p3.session import SessionService
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from lti.errors import (
    AmbiguousRegistration,
    InvalidToken,
    KeySetProblem,
    LtiProblem,
    RegistrationNotActive,
    UnknownDeployment,
    UnknownRegistration,
    from_library,
)
from lti.keys import SigningKey, published_keys
from lti.models import (
    Deployment,
    DeploymentPolicy,
    LaunchState,
    Registration,
    RegistrationStatus,
    UsedNonce,
)
from lti.settings import LtiSettings
from repo_app.extensions import db

log = logging.getLogger("kejian.lti")

#: The tool's one cookie (``kejian-`` + this): it keys the server-side login state.
SESSION_COOKIE = "lti-session"
COOKIE_PREFIX = "kejian"
COOKIE_NAME = f"{COOKIE_PREFIX}-{SESSION_COOKIE}"
#: How long a login may take between the redirect to the platform and the launch.
STATE_SECONDS = 600
SIGNING_ALGS = ("RS256", "RS384", "RS512")

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"


def session_hash(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


# -- registrations ------------------------------------------------------------------


class ToolRegistration(LibRegistration):
    """A library registration built from a database row, with the tool's active key."""

    def __init__(self, row: Registration, key: SigningKey) -> None:
        self.row = row
        self.key = key
        self.set_issuer(row.issuer)
        self.set_client_id(row.client_id)
        self.set_auth_login_url(row.auth_login_url)
        self.set_auth_token_url(row.auth_token_url)
        self.set_key_set_url(row.key_set_url)
        self.set_key_set(row.key_set)  # type: ignore[arg-type]
        self.set_tool_private_key(key.private_pem)
        self.set_tool_public_key(key.public_pem)

    def get_kid(self) -> str:
        return self.key.kid


class DbToolConf(ToolConfAbstract[FlaskRequest]):
    """Registrations from the ``lti_registrations`` table.

    Every issuer may have several clients (Canvas serves every school from one
    issuer), so registrations are always looked up by (issuer, client id).
    """

    def __init__(self, signing_key: SigningKey) -> None:
        super().__init__()
        self._key = signing_key

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(
        self, iss: str, *args: Any, **kwargs: Any
    ) -> ToolRegistration:
        return self.find_registration_by_params(iss, None, *args, **kwargs)  # type: ignore[arg-type]

    def find_registration_by_params(
        self, iss: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> ToolRegistration:
        """The registration for (*iss*, *client_id*); *client_id* may be missing
        from a login request when the issuer has one registration only.

        :raises UnknownRegistration, AmbiguousRegistration, RegistrationNotActive:
        """
        query = select(Registration).where(Registration.issuer == iss)
        if client_id:
            query = query.where(Registration.client_id == client_id)
        rows = list(db.session.scalars(query))
        described = f"issuer {iss!r}" + (
            f" and client id {client_id!r}" if client_id else ""
        )
        if not rows:
            raise UnknownRegistration(
                f"No platform is registered with {described}.",
                hint="Register the platform ('kejian lti register' or Dynamic "
                "Registration); issuer and client id must match what the platform "
                "sends, character for character.",
                details={"issuer": iss, "client_id": client_id},
            )
        if len(rows) > 1:
            raise AmbiguousRegistration(
                f"Several registrations share issuer {iss!r} "
                f"(client ids {', '.join(sorted(r.client_id for r in rows))}) and the "
                "login request names no client_id, so Kejian cannot tell which is "
                "meant.",
                hint="Configure the platform to send client_id in its login requests "
                "(LTI 1.3 login initiation), as Canvas does.",
                details={
                    "issuer": iss,
                    "client_ids": sorted(r.client_id for r in rows),
                },
            )
        row = rows[0]
        check_active(row)
        return ToolRegistration(row, self._key)

    def find_deployment(self, iss: str, deployment_id: str) -> LibDeployment | None:
        return self.find_deployment_by_params(iss, deployment_id, None)  # type: ignore[arg-type]

    def find_deployment_by_params(
        self,
        iss: str,
        deployment_id: str,
        client_id: str | None,
        *args: Any,
        **kwargs: Any,
    ) -> LibDeployment:
        """The deployment, or a new one when the registration's policy accepts it.

        :raises UnknownDeployment: when the policy rejects an unknown deployment id.
        """
        row = self.find_registration_by_params(iss, client_id).row
        deployment_id = str(deployment_id)
        found = next(
            (d for d in row.deployments if d.deployment_id == deployment_id), None
        )
        if found is None:
            if row.unknown_deployments is not DeploymentPolicy.ACCEPT:
                raise UnknownDeployment(
                    f"Deployment id {deployment_id!r} is not registered for "
                    f"{row.label}.",
                    hint="Add it with 'kejian lti register --issuer … --client-id … "
                    f"--deployment {deployment_id}', or let this registration accept "
                    "new "
                    "deployments (course installs and course copies make new ones).",
                    registration=row.label,
                    details={"deployment_id": deployment_id},
                )
            # Course copies and course-level installs add deployments without telling
            # the tool; this registration's administrator chose to accept them.
            found = Deployment(deployment_id=deployment_id, auto_added=True)
            row.deployments.append(found)
            log.info(
                "LTI deployment accepted: registration=%s deployment=%s",
                row.label,
                deployment_id,
            )
        return LibDeployment().set_deployment_id(deployment_id)

    def get_jwks(
        self, iss: str | None = None, client_id: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return {"keys": published_keys()}


def check_active(row: Registration) -> None:
    """:raises RegistrationNotActive: unless *row* is active and has an organisation."""
    if row.status is RegistrationStatus.PENDING or row.org_id is None:
        raise RegistrationNotActive(
            f"The registration {row.label} is waiting for a Kejian administrator to "
            "approve it.",
            hint="A Kejian administrator runs 'kejian lti approve "
            f"{row.id} --org <organisation code>'.",
            registration=row.label,
        )
    if row.status is RegistrationStatus.DISABLED:
        raise RegistrationNotActive(
            f"The registration {row.label} is disabled.",
            hint="Ask a Kejian administrator to approve it again.",
            registration=row.label,
        )


# -- server-side state --------------------------------------------------------------


class ServerSideStorage(LaunchDataStorage[Any]):
    """pylti1p3's launch storage in the ``lti_launch_states`` table, per cookie."""

    _session_cookie_name = SESSION_COOKIE

    def __init__(self) -> None:
        super().__init__()
        self.session_hash: str | None = None

    def get_session_cookie_name(self) -> str:
        # Unlike the library's cache storage, also over plain HTTP: state must never
        # be shared between browsers.
        return self._session_cookie_name

    def set_session_id(self, session_id: str) -> None:
        super().set_session_id(session_id)
        self.session_hash = session_hash(session_id)

    def _row(self, key: str) -> LaunchState | None:
        if self.session_hash is None:
            return None
        row = db.session.scalar(
            select(LaunchState).where(
                LaunchState.session_hash == self.session_hash, LaunchState.key == key
            )
        )
        if row is None:
            return None
        expires = (
            row.expires_at
            if row.expires_at.tzinfo
            else row.expires_at.replace(tzinfo=UTC)
        )
        return row if expires > _now() else None

    def can_set_keys_expiration(self) -> bool:
        return True

    def get_value(self, key: str) -> Any:
        row = self._row(key)
        return None if row is None else row.value

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        assert self.session_hash is not None, "the session cookie is read first"
        row = self._row(key)
        expires = _now() + timedelta(seconds=exp or STATE_SECONDS)
        if row is None:
            db.session.add(
                LaunchState(
                    session_hash=self.session_hash,
                    key=key,
                    value=value,
                    expires_at=expires,
                )
            )
        else:
            row.value, row.expires_at = value, expires

    def check_value(self, key: str) -> bool:
        return self._row(key) is not None

    def remove(self, key: str) -> bool:
        """Delete *key*; False when it was gone already (another request used it)."""
        if self.session_hash is None:
            return False
        result = db.session.execute(
            delete(LaunchState).where(
                LaunchState.session_hash == self.session_hash, LaunchState.key == key
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def state_params_anywhere(state: str) -> dict[str, Any] | None:
    """The login parameters saved for *state*, whatever cookie it was saved under.

    Used only to build the "continue in a new window" link when the cookie did not
    come back: that link starts a new login, so it opens nothing by itself.
    """
    row = db.session.scalar(
        select(LaunchState).where(LaunchState.key == f"lti1p3-{state}").limit(1)
    )
    return row.value if row is not None and isinstance(row.value, dict) else None


def purge_expired() -> None:
    """Drop expired login state and nonces (cheap: both are indexed by expiry)."""
    now = _now()
    db.session.execute(delete(LaunchState).where(LaunchState.expires_at < now))
    db.session.execute(delete(UsedNonce).where(UsedNonce.expires_at < now))


class ToolSessions(SessionService):
    """The library's session service on :class:`ServerSideStorage`."""

    def __init__(self, request: FlaskRequest, storage: ServerSideStorage) -> None:
        super().__init__(request)
        self.set_data_storage(storage)
        self.storage = storage

    def forget(self, state: str, nonce: str) -> bool:
        """Use up a login: False when it had been used already."""
        used_state = self.storage.remove(self._get_key(state))
        used_nonce = self.storage.remove(self._get_key("nonce", nonce))
        return used_state and used_nonce


class ToolCookies(FlaskCookieService):
    """One cookie, ``kejian-lti-session``, scoped to ``/lti``.

    Over HTTPS (as seen through ProxyFix) it is ``Secure; SameSite=None;
    Partitioned``: the launch is a cross-site POST into an iframe, and Safari and
    Chrome keep third-party cookies only when partitioned.
    """

    _cookie_prefix = COOKIE_PREFIX

    def set_cookie(self, name: str, value: str | int, exp: int | None = 3600) -> None:
        if name.startswith("state-"):
            # The library's per-login state cookie: state lives server-side under
            # our one cookie instead, so one cookie has to survive the iframe, not two.
            return
        super().set_cookie(name, value, exp)

    def update_response(self, response: Response) -> None:
        secure = bool(self._request.is_secure())
        for key, data in self._cookie_data_to_set.items():
            response.set_cookie(
                key,
                str(data["value"]),
                max_age=data["exp"],
                path="/lti",
                secure=secure,
                httponly=True,
                samesite="None" if secure else "Lax",
                partitioned=secure,
            )


# -- login --------------------------------------------------------------------------


class ToolLogin(FlaskOIDCLogin):
    """OIDC login initiation: validate, remember, and 302 to the platform.

    :param launch_urls: the launch URLs this tool registers; the platform's
        ``target_link_uri`` must be one of them.
    """

    def __init__(
        self,
        request: FlaskRequest,
        tool_config: DbToolConf,
        *,
        sessions: ToolSessions,
        cookies: ToolCookies,
        storage: ServerSideStorage,
        launch_urls: list[str],
    ) -> None:
        super().__init__(
            request,
            tool_config,
            session_service=sessions,
            cookie_service=cookies,
            launch_data_storage=storage,
        )
        self._launch_urls = launch_urls
        params = {
            k: request.get_param(k)
            for k in (
                "iss",
                "login_hint",
                "lti_message_hint",
                "target_link_uri",
                "client_id",
                "lti_deployment_id",
            )
            if request.get_param(k)
        }
        # A fresh dict per login: the library's default is shared by the class.
        self.pass_params_to_launch({"login": params})

    def validate_oidc_login(self) -> ToolRegistration:
        target = self._get_request_param("target_link_uri")
        if not target:
            raise LtiProblem(
                "The login request has no target_link_uri.",
                hint="The platform must send target_link_uri (the tool's launch URL).",
            )
        registration = super().validate_oidc_login()
        assert isinstance(registration, ToolRegistration)
        if target not in self._launch_urls:
            raise LtiProblem(
                f"target_link_uri {target!r} is not a launch URL of this tool.",
                hint="Set the tool's launch URL in the platform to "
                f"{self._launch_urls[0]}. "
                "Behind a TLS proxy, set KEJIAN_LTI_TRUSTED_PROXIES so that Kejian "
                "sees "
                "https.",
                registration=registration.row.label,
                details={"target_link_uri": target, "launch_urls": self._launch_urls},
            )
        self._state_params["registration"] = registration.row.id
        return registration

    def _generate_nonce(self) -> str:
        nonce = super()._generate_nonce()
        # Bound to the state, so that a launch can only use the nonce of its own login.
        self._state_params["nonce"] = nonce
        return nonce


# -- launch -------------------------------------------------------------------------


class _KeySets:
    """Platform key sets by URL, shared by the threads of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sets: dict[str, tuple[float, dict[str, Any]]] = {}
        self._refetched: dict[str, float] = {}

    def cached(self, url: str, max_age: float) -> dict[str, Any] | None:
        with self._lock:
            entry = self._sets.get(url)
        if entry is None or time.monotonic() - entry[0] > max_age:
            return None
        return entry[1]

    def store(self, url: str, keys: dict[str, Any]) -> None:
        with self._lock:
            self._sets[url] = (time.monotonic(), keys)

    def may_refetch(self, url: str, interval: float) -> bool:
        """True at most once per *interval* for *url*."""
        now = time.monotonic()
        with self._lock:
            last = self._refetched.get(url)
            if last is not None and now - last < interval:
                return False
            self._refetched[url] = now
            return True

    def clear(self) -> None:
        with self._lock:
            self._sets.clear()
            self._refetched.clear()


key_sets = _KeySets()


class ToolDeepLinkValidator(DeepLinkMessageValidator):
    """The library's check of a Deep Linking request, which insists on
    ``ltiResourceLink`` in ``accept_types``: a course that accepts only ``file`` or
    ``link`` items (Deep Linking 2.0 allows it) passes, and every other check stays."""

    ITEM_TYPES = frozenset({"ltiResourceLink", "file", "link"})

    def validate(self, jwt_body: dict[str, Any]) -> bool:
        settings = jwt_body.get(DL_SETTINGS)
        accept = settings.get("accept_types") if isinstance(settings, dict) else None
        if isinstance(accept, list) and self.ITEM_TYPES.intersection(accept):
            # Checked as if links were accepted; the claims used later are unchanged.
            settings = {**settings, "accept_types": [*accept, "ltiResourceLink"]}
            jwt_body = {**jwt_body, DL_SETTINGS: settings}
        return super().validate(jwt_body)  # type: ignore[no-any-return]


def _kids(key_set: dict[str, Any]) -> list[str]:
    return [str(k.get("kid")) for k in key_set.get("keys", []) if isinstance(k, dict)]


class ToolLaunch(FlaskMessageLaunch):
    """A launch (an id_token POST), validated with the checks real platforms need."""

    def __init__(
        self,
        request: FlaskRequest,
        tool_config: DbToolConf,
        *,
        sessions: ToolSessions,
        cookies: ToolCookies,
        storage: ServerSideStorage,
        settings: LtiSettings,
        launch_urls: list[str],
    ) -> None:
        super().__init__(
            request,
            tool_config,
            session_service=sessions,
            cookie_service=cookies,
            launch_data_storage=storage,
        )
        self._settings = settings
        self._launch_urls = launch_urls
        self._sessions = sessions
        self._login: dict[str, Any] = {}
        self.claims: dict[str, Any] = {}

    # The library's steps, each made stricter or clearer. ``validate`` runs them in
    # order: state, format, nonce, registration, signature, deployment, message,
    # save.

    def registration(self) -> ToolRegistration:
        assert isinstance(self._registration, ToolRegistration)
        return self._registration

    def _label(self) -> str | None:
        """The registration for logs: the token's, or else the login's it answers."""
        reg = getattr(self, "_registration", None)
        if isinstance(reg, ToolRegistration):
            return reg.row.label
        login_reg = self._login.get("registration") if self._login else None
        row = (
            db.session.get(Registration, login_reg)
            if isinstance(login_reg, int)
            else None
        )
        return row.label if row is not None else None

    def validate(self) -> ToolLaunch:
        try:
            super().validate()
        except LtiProblem as problem:
            problem.registration = problem.registration or self._label()
            raise
        except LtiException as exc:
            raise from_library(exc, self._label()) from None
        self.claims = dict(self._jwt["body"])
        return self

    def _unverified_body(self) -> dict[str, Any]:
        try:
            body = jwt.decode(self._get_id_token(), options={"verify_signature": False})
        except (jwt.InvalidTokenError, LtiException):
            return {}
        return body if isinstance(body, dict) else {}

    def validate_state(self) -> ToolLaunch:
        state = self._get_request_param("state")
        if not state:
            raise InvalidToken(
                "The launch has no state parameter.",
                hint="The platform must return the state it was given.",
            )
        login = self._sessions.get_state_params(state)
        if not isinstance(login, dict):
            if self._nonce_used(self._unverified_body()):
                raise InvalidToken(
                    "This launch was used already: the same id_token was posted twice.",
                    hint="Each launch is accepted once; launch again from the course.",
                )
            raise InvalidToken(
                "The launch's state is unknown or expired (a login lasts 10 minutes).",
                hint="Launch again from the course. If it keeps failing, check that "
                "the "
                "platform posts to the launch URL the login named.",
            )
        self._login = login
        return self

    def _nonce_used(self, body: dict[str, Any]) -> bool:
        nonce, iss = body.get("nonce"), body.get("iss")
        if not isinstance(nonce, str) or not isinstance(iss, str):
            return False
        return (
            db.session.scalar(
                select(UsedNonce.id)
                .join(Registration, Registration.id == UsedNonce.registration_id)
                .where(UsedNonce.nonce == nonce, Registration.issuer == iss)
                .limit(1)
            )
            is not None
        )

    def validate_jwt_format(self) -> ToolLaunch:
        super().validate_jwt_format()
        if not isinstance(self._jwt.get("body"), dict) or not isinstance(
            self._jwt.get("header"), dict
        ):
            raise InvalidToken("The id_token's header or body is not a JSON object.")
        return self

    def validate_nonce(self) -> ToolLaunch:
        nonce = self._jwt["body"].get("nonce")
        if (
            not nonce
            or nonce != self._login.get("nonce")
            or not self._sessions.check_nonce(nonce)
        ):
            raise InvalidToken(
                "The id_token's nonce is not the one Kejian sent with this login.",
                hint="Launch again from the course; the platform must copy the nonce "
                "of "
                "the authentication request into the id_token.",
            )
        return self

    def get_client_id(self) -> str:
        """The client the id_token is for: its only audience, or ``azp``.

        :raises InvalidToken: for several audiences without ``azp``, or an ``azp``
            that is not one of the audiences.
        """
        body = self._jwt.get("body", {})
        aud, azp = body.get("aud"), body.get("azp")
        audiences = aud if isinstance(aud, list) else [aud]
        audiences = [a for a in audiences if isinstance(a, str) and a]
        if not audiences:
            raise InvalidToken("The id_token has no audience (aud).")
        if azp is not None and azp not in audiences:
            raise InvalidToken(
                f"The id_token's azp {azp!r} is not among its audiences {audiences}."
            )
        if len(audiences) > 1 and azp is None:
            raise InvalidToken(
                "The id_token has several audiences and no azp naming this tool's "
                "client."
            )
        return str(azp or audiences[0])

    def validate_registration(self) -> ToolLaunch:
        super().validate_registration()
        row = self.registration().row
        if self._login.get("registration") != row.id:
            raise InvalidToken(
                "The id_token comes from another registration than the login it "
                "answers.",
                registration=row.label,
            )
        return self

    def fetch_public_key(self, key_set_url: str) -> dict[str, Any]:  # type: ignore[override]
        """GET the platform's key set, with a timeout and its status checked.

        :raises KeySetProblem: when the URL cannot be read or is not a key set.
        """
        label = self._label()
        try:
            resp = self._requests_session.get(key_set_url, timeout=5)
        except requests.RequestException as exc:
            raise KeySetProblem(
                f"The platform's key set at {key_set_url} cannot be fetched "
                f"({exc.__class__.__name__}).",
                hint="Check the registration's key-set URL and that Kejian can reach "
                "it.",
                registration=label,
            ) from None
        try:
            data = resp.json() if resp.ok else None
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise KeySetProblem(
                f"The platform's key set at {key_set_url} answered HTTP "
                f"{resp.status_code} without a JSON key set.",
                hint="Check the registration's key-set URL; it must answer "
                '{"keys": [...]}.',
                registration=label,
            )
        return data

    def get_public_key(self) -> tuple[str, str]:
        reg = self.registration()
        header = self._jwt.get("header", {})
        kid, alg = header.get("kid"), header.get("alg")
        if alg not in SIGNING_ALGS:
            raise InvalidToken(
                f"The id_token is not signed with RSA (alg {alg!r}); unsigned tokens "
                "are "
                "refused.",
                registration=reg.row.label,
            )
        if not kid:
            raise InvalidToken(
                "The id_token's header names no key (kid).", registration=reg.row.label
            )
        url, settings = reg.get_key_set_url(), self._settings
        if url:
            # The URL is preferred to a pasted key set: platforms rotate keys.
            key_set = key_sets.cached(url, settings.keyset_cache_seconds)
            if key_set is None:
                key_set = self.fetch_public_key(url)
                key_sets.store(url, key_set)
            if kid not in _kids(key_set) and key_sets.may_refetch(
                url, settings.keyset_refetch_seconds
            ):
                # The platform may have rotated its key since we fetched: once.
                key_set = self.fetch_public_key(url)
                key_sets.store(url, key_set)
        elif reg.get_key_set():
            key_set = dict(reg.get_key_set() or {})
        else:
            raise KeySetProblem(
                f"The registration {reg.row.label} has no key set.",
                hint="Give it the platform's key-set URL.",
                registration=reg.row.label,
            )

        for key in key_set.get("keys", []):
            if isinstance(key, dict) and key.get("kid") == kid:
                try:
                    pem = JWK.from_json(json.dumps(key)).export_to_pem()
                except (ValueError, TypeError, KeyError) as exc:
                    raise KeySetProblem(
                        f"The platform's key {kid!r} cannot be read: {exc}",
                        registration=reg.row.label,
                    ) from None
                return pem.decode("ascii"), alg
        log.warning(
            "LTI unknown kid: registration=%s received=%s available=%s",
            reg.row.label,
            kid,
            _kids(key_set),
        )
        raise KeySetProblem(
            f"The platform signed with key {kid!r}, which its key set does not hold "
            f"(it holds {', '.join(_kids(key_set)) or 'no keys'}).",
            hint="Check that the registration's key-set URL is the platform's current "
            "one; a key set pasted by hand goes stale when the platform rotates keys.",
            registration=reg.row.label,
            details={"kid": kid, "available": _kids(key_set)},
        )

    def validate_jwt_signature(self) -> ToolLaunch:
        public_key, alg = self.get_public_key()
        reg = self.registration()
        leeway = self._settings.leeway_seconds
        try:
            jwt.decode(
                self._get_id_token(),
                public_key,
                algorithms=[alg],
                audience=reg.get_client_id(),
                issuer=reg.get_issuer(),
                leeway=leeway,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken(
                f"The id_token expired {self._seconds_from('exp')} s ago (leeway "
                f"{leeway} s).",
                hint="Check the platform's clock; KEJIAN_LTI_LEEWAY_SECONDS sets the "
                "accepted difference.",
                registration=reg.row.label,
            ) from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken(
                f"The id_token is issued {-self._seconds_from('iat')} s in the future "
                f"(leeway {leeway} s).",
                hint="Check the platform's clock; KEJIAN_LTI_LEEWAY_SECONDS sets the "
                "accepted difference.",
                registration=reg.row.label,
            ) from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(
                f"The id_token is not valid: {exc}.",
                hint="Check the platform's registration of this tool "
                "(client id, issuer and keys).",
                registration=reg.row.label,
            ) from None
        return self

    def _seconds_from(self, claim: str) -> int:
        value = self._jwt["body"].get(claim)
        return int(time.time() - value) if isinstance(value, int | float) else 0

    def validate_message(self) -> ToolLaunch:
        body = self._jwt["body"]
        target = body.get(CLAIM + "target_link_uri")
        if target not in self._launch_urls:
            raise InvalidToken(
                f"The id_token's target_link_uri {target!r} is not a launch URL of "
                "this "
                "tool.",
                hint="Set the tool's launch URL in the platform to "
                f"{self._launch_urls[0]}.",
                registration=self._label(),
            )
        deep_linking = ToolDeepLinkValidator()
        if deep_linking.can_validate(body):
            deep_linking.validate(body)
            return self
        return super().validate_message()  # type: ignore[no-any-return]

    def save_launch_data(self) -> ToolLaunch:
        # The library would keep the whole token in the session; the caller records
        # what it needs. Here the login is used up: state, nonce, and the nonce once
        # more in lti_nonces, whose unique key refuses a replay even when two POSTs
        # race each other.
        body = self._jwt["body"]
        if not self._sessions.forget(self._get_request_param("state"), body["nonce"]):
            raise InvalidToken(
                "This launch was used already.", registration=self._label()
            )
        lifetime = (
            max(int(body.get("exp", 0) - time.time()), 0)
            + self._settings.leeway_seconds
        )
        db.session.add(
            UsedNonce(
                registration_id=self.registration().row.id,
                nonce=str(body["nonce"])[:255],
                expires_at=_now() + timedelta(seconds=lifetime + 60),
            )
        )
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise InvalidToken(
                "This launch was used already: its nonce was seen before.",
                registration=self._label(),
            ) from None
        return self
