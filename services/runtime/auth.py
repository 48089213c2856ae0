"""Who is calling: the bearer token (a JWT) of a call, verified, and the rules a method states.

Tokens come from an identity provider (Keycloak, Auth0, Cognito...) or, locally, from
`python -m devstack token`. Verified with PyJWT: the algorithm is pinned (ES256 by default), so a
token saying `alg: none` or HS256 is refused whatever it carries; issuer, audience, expiry and
subject are required. The keys come from a JWKS, by URL (PyJWKClient, fetched off the event loop,
cached and refreshed) or from a file (read again when it changes, so keys rotate without a
restart).

Each service states who may call each method (its access module); the guard (guard.py) checks
that before the method runs and hands the method the Caller, from which the service decides per
object (another customer's purchase is NOT_FOUND, never PERMISSION_DENIED).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
import jwt
from google.rpc import error_details_pb2

from .config import ConfigError
from .errors import DOMAIN, ServiceError
from .tls import DEFAULT_TRUST_DOMAIN, peer_service

STAFF = "staff"
CUSTOMER = "customer"
DEFAULT_ALGORITHM = "ES256"
# Clocks of the issuer and of the services may differ by this much; more would stretch every
# token's life.
LEEWAY_SECONDS = 5
# Verified tokens kept (token -> caller until its expiry): a client sends the same token with
# every call for minutes, and checking an ECDSA signature each time costs more than the rest of a
# cheap RPC. Bounded, so a flood of distinct tokens cannot grow it.
VERIFIED_CACHE_SIZE = 4096
# A token naming a key id the set lacks makes the set be fetched again, at most this often.
REFRESH_UNKNOWN_KID_SECONDS = 10.0
JWKS_LIFESPAN_SECONDS = 300


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED

    def __init__(self, message: str, reason: str, required: str):
        super().__init__(message, reason)
        self.required = required

    def details(self) -> list:
        return [error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata={"required": self.required})]


@dataclass(frozen=True)
class Caller:
    """A verified caller: the token's subject and roles, and the raw token, forwarded to a peer
    when a service acts with its caller's rights (orders asking customers for the buyer)."""

    subject: str | None = None
    roles: frozenset[str] = frozenset()
    token: str | None = None
    expires: float = float("inf")
    service: str | None = None  # the calling service, from its client certificate (tls.peer_service)

    @property
    def authenticated(self) -> bool:
        return self.subject is not None

    @property
    def is_staff(self) -> bool:
        return STAFF in self.roles

    @property
    def is_customer(self) -> bool:
        return CUSTOMER in self.roles

    @property
    def own_subject(self) -> str | None:
        """The subject whose records this caller is limited to: None for the staff (everyone's),
        else its own. A customer signs up bound to it and sees the purchases made under it."""
        return None if self.is_staff else self.subject


ANONYMOUS = Caller()
# The caller of the RPC being served, set by the guard for the method's task.
CURRENT: contextvars.ContextVar[Caller] = contextvars.ContextVar("caller", default=ANONYMOUS)


def current_caller() -> Caller:
    return CURRENT.get()


@dataclass(frozen=True)
class AuthSettings:
    issuer: str
    audience: str
    jwks_url: str | None = None
    jwks_file: Path | None = None
    algorithm: str = DEFAULT_ALGORITHM
    roles_claim: str = "roles"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "AuthSettings":
        issuer, audience = env.get("AUTH_ISSUER", ""), env.get("AUTH_AUDIENCE", "")
        if not issuer:
            raise ConfigError("AUTH_ISSUER is not set (the `iss` every token must carry)")
        if not audience:
            raise ConfigError("AUTH_AUDIENCE is not set (the `aud` every token must carry)")
        url, file = env.get("AUTH_JWKS_URL", ""), env.get("AUTH_JWKS_FILE", "")
        if bool(url) == bool(file):
            raise ConfigError("set exactly one of AUTH_JWKS_URL (an https:// JWKS) and AUTH_JWKS_FILE")
        if url and not url.startswith(("https://", "http://")):
            raise ConfigError(f"AUTH_JWKS_URL={url!r} is not an http(s) URL")
        algorithm = env.get("AUTH_ALGORITHM", DEFAULT_ALGORITHM)
        if algorithm not in ("ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "EdDSA"):
            raise ConfigError(f"AUTH_ALGORITHM={algorithm!r} is not an asymmetric JWS algorithm (e.g. ES256, RS256)")
        return cls(issuer, audience, url or None, Path(file) if file else None, algorithm,
                   env.get("AUTH_ROLES_CLAIM", "roles"))


class FileKeys:
    """A JWKS file, read again when it changes (checked at most once a second)."""

    def __init__(self, path: Path):
        self._path = path
        self._stamp = None
        self._checked = 0.0
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._load()

    def _load(self) -> None:
        try:
            stamp = self._path.stat().st_mtime_ns
            if stamp == self._stamp:
                return
            keys = jwt.PyJWKSet.from_dict(json.loads(self._path.read_text())).keys
        except (OSError, ValueError, jwt.PyJWKSetError) as error:
            if self._stamp is None:
                raise ConfigError(f"AUTH_JWKS_FILE {self._path}: {error}") from None
            return  # keep the keys we had: a half-written file must not lock everyone out
        self._keys = {key.key_id: key for key in keys}
        self._stamp = stamp

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        now = time.monotonic()
        if now - self._checked > 1.0:
            self._checked = now
            self._load()
        return self._key(kid)

    def _key(self, kid):
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)


class UrlKeys(FileKeys):
    """A JWKS by URL (an identity provider's jwks_uri), fetched in a thread, kept
    JWKS_LIFESPAN_SECONDS, fetched again early for a key id it lacks (a rotation)."""

    def __init__(self, url: str):
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=5)
        self._keys = {}
        self._fetched = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        now = time.monotonic()
        stale = now - self._fetched > JWKS_LIFESPAN_SECONDS
        unknown = self._key(kid) is None and now - self._fetched > REFRESH_UNKNOWN_KID_SECONDS
        if stale or unknown:
            async with self._lock:
                if time.monotonic() - self._fetched > REFRESH_UNKNOWN_KID_SECONDS:
                    try:
                        found = await asyncio.to_thread(self._client.get_jwk_set)
                        self._keys = {key.key_id: key for key in found.keys}
                    except jwt.PyJWKClientError:
                        pass  # unreachable provider: the keys we had stay, and a token we cannot check fails
                    self._fetched = time.monotonic()
        return self._key(kid)


def _bearer(context) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            value = value if isinstance(value, str) else value.decode("ascii", "replace")
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("the authorization metadata must be `Bearer <token>`", "TOKEN_INVALID")
            return token.strip()
    return None


class Authenticator:
    """Turns a call's bearer token into a Caller (ANONYMOUS without one), or refuses it."""

    def __init__(self, settings: AuthSettings, keys: FileKeys | None = None, trust_domain: str = DEFAULT_TRUST_DOMAIN):
        self.settings = settings
        self.trust_domain = trust_domain  # whose SPIFFE IDs name our services (see tls.py)
        self._keys = keys or (UrlKeys(settings.jwks_url) if settings.jwks_url else FileKeys(settings.jwks_file))
        self._verified: dict[str, Caller] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Authenticator":
        return cls(AuthSettings.from_env(env), trust_domain=env.get("TLS_TRUST_DOMAIN", "") or DEFAULT_TRUST_DOMAIN)

    def service(self, context) -> str | None:
        return peer_service(context, self.trust_domain)

    async def caller(self, context) -> Caller:
        token = _bearer(context)
        if token is None:
            return ANONYMOUS
        known = self._verified.get(token)
        if known is not None and known.expires + LEEWAY_SECONDS > time.time():
            return known
        caller = await self.verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = caller
        return caller

    async def verify(self, token: str) -> Caller:
        settings = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated("the bearer token is not a JWT", "TOKEN_INVALID") from None
        if header.get("alg") != settings.algorithm:
            raise Unauthenticated(f"the token's algorithm must be {settings.algorithm}", "TOKEN_INVALID")
        key = await self._keys.key(header.get("kid"))
        if key is None:
            raise Unauthenticated("the token is signed with a key the issuer does not publish", "TOKEN_INVALID")
        try:
            claims = jwt.decode(token, key, algorithms=[settings.algorithm], audience=settings.audience,
                                issuer=settings.issuer, leeway=LEEWAY_SECONDS,
                                options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", "TOKEN_EXPIRED") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token is from another issuer", "TOKEN_INVALID") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is meant for another audience", "TOKEN_INVALID") from None
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"the token is not valid: {error}", "TOKEN_INVALID") from None
        if not claims["sub"]:  # PyJWT takes "" for a subject; a customer cannot be bound to it (Envoy agrees)
            raise Unauthenticated("the token's subject is empty", "TOKEN_INVALID")
        roles = claims.get(settings.roles_claim, [])
        roles = [roles] if isinstance(roles, str) else roles if isinstance(roles, list) else []
        return Caller(subject=str(claims["sub"]), roles=frozenset(r for r in roles if isinstance(r, str)),
                      token=token, expires=float(claims["exp"]))


# -- what a method asks of its caller -------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """Who may call a method: anyone, an authenticated caller with one of `roles`, or the one
    service named `service` (by its client certificate, whatever token it carries)."""

    roles: frozenset[str] | None = None  # None: anyone, even anonymous
    service: str | None = None
    # Roles that disqualify even a caller that has one of `roles`: a purchase is a customer's own
    # act, and a token that also carries the staff role would let the staff's view of every
    # customer pass for the buyer's own (a staff member who shops does so with a customer token).
    refused: frozenset[str] = frozenset()

    def check(self, caller: Caller, method: str) -> None:
        if self.service is not None:
            if caller.service != self.service:
                raise PermissionDenied(f"{method} is for the {self.service} service only", "SERVICE_REQUIRED",
                                       self.service)
            return
        if self.roles is None:
            return
        if not caller.authenticated:
            raise Unauthenticated(f"{method} needs a bearer token", "TOKEN_MISSING")
        if not caller.roles & self.roles:
            required = " or ".join(sorted(self.roles))
            raise PermissionDenied(f"{method} is for {required}", "ROLE_REQUIRED", required)
        if caller.roles & self.refused:
            refused = " or ".join(sorted(caller.roles & self.refused))
            raise PermissionDenied(f"{method} is not for a token with the {refused} role", "ROLE_REFUSED", refused)


ANYONE = Rule()
STAFF_ONLY = Rule(frozenset({STAFF}))
SIGNED_IN = Rule(frozenset({STAFF, CUSTOMER}))
CUSTOMER_ONLY = Rule(frozenset({CUSTOMER}), refused=frozenset({STAFF}))


def service_only(name: str) -> Rule:
    return Rule(service=name)


def bearer_metadata(caller: Caller) -> tuple[tuple[str, str], ...]:
    """Metadata that makes a peer see this caller (its own token, which the peer verifies)."""
    return (("authorization", f"Bearer {caller.token}"),) if caller.token else ()
