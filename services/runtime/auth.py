"""Who is calling: the bearer token (a JWT) of a call, verified, and the rules a method states.

Tokens come from an identity provider (Keycloak, Auth0, Cognito...) or, locally, from
`python -m devstack token`. Verified with PyJWT: the algorithm is pinned (ES256 by default), so a
token saying `alg: none` or HS256 is refused whatever it carries; issuer, audience, expiry and
subject are required. The keys come from a JWKS, by URL (PyJWKClient's cache, kept as long as the
gateway keeps its own, fetched off the event loop) or from a file (read again when it changes), so
keys rotate without a restart.

Each service states who may call each method (its access module, made an Access with the
service's Authenticator); the guard (guard.py) asks it before the method runs and hands the method
the Caller, from which the service decides per object (another customer's purchase is NOT_FOUND,
never PERMISSION_DENIED).
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import dataclasses
import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import grpc
import jwt
from google.protobuf.descriptor import ServiceDescriptor
from google.rpc import error_details_pb2

from . import config
from .config import ConfigError
from .errors import DOMAIN, ServiceError
from .tls import DEFAULT_TRUST_DOMAIN, peer_service

STAFF = "staff"
CUSTOMER = "customer"
DEFAULT_ALGORITHM = "ES256"
# Clocks of the issuer and of the services may differ by this much; more would stretch every
# token's life.
LEEWAY_SECONDS = 5
# Verified tokens kept (token -> caller until its expiry, while the key that verified it is still
# the set's): a client sends the same token with every call for minutes, and checking an ECDSA
# signature each time costs more than the rest of a cheap RPC. Bounded, so a flood of distinct
# tokens cannot grow it.
VERIFIED_CACHE_SIZE = 4096
# A bearer token's length, at most: 14 KiB, so that a call that forwards it (orders asks customers
# for the buyer with the buyer's token) fits in the 16 KiB of metadata every service takes
# (server.MAX_METADATA_BYTES), with 2 KiB for the rest of that call's metadata. A longer one once
# passed orders and was refused by customers: an INTERNAL answer for the caller's own input.
# Identity providers' tokens are far shorter, and the gateway lets only 8 KiB of headers in.
MAX_TOKEN_CHARACTERS = 14 * 1024
# A JWKS by URL is kept this long (JWKS_REFRESH_SECONDS, the gateway's variable and default: both
# ends read the set again as often): a key removed from it ends the tokens it signed within this
# time, and a new one is taken within it. A JWKS file: within a second of its change (FileKeys).
DEFAULT_JWKS_REFRESH_SECONDS = 10.0
# A JWKS URL that could not be read (or held no key) is tried again after this; meanwhile, as at
# the gateway, the keys it last published stay.
JWKS_RETRY_SECONDS = 1.0

# What a token's subject may be (docs/api.md, "Who may call what"), the same rule wherever a subject is
# judged: 1 to 255 printable ASCII characters (space to tilde: no control character, which would
# split a log line), with no space at either end, so "ana" and "ana " are not two customers and
# "   " is nobody. ASCII, because identity providers' subjects are ids (UUIDs, `auth0|5f...`),
# because two spellings of "José" (NFC, NFD) would be two customers who look alike, and because
# Envoy matches `subjects` byte by byte (measured: a UTF-8 continuation byte 0x80-0x9f counts as a
# control character there, and a length counts bytes), so a Unicode rule would not be the same
# rule at the gateway. The gateway states it as this RE2 pattern (jwt_authn `subjects`, a full
# match; gateway/envoy.yaml), the services and the token commands as subject_problem.
SUBJECT_MAX_CHARACTERS = 255
SUBJECT_PATTERN = "[!-~](?:[ -~]{0,253}[!-~])?"
# RFC 7519, 2: a NumericDate is a JSON number; PyJWT would take "1700000000" too, Envoy does not.
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")
NUMERIC_DATE_LIMIT = 2**64


class _NotEnvoysJson(ValueError):
    """JSON that Python's json reads and Envoy's reader (protobuf's, into a Struct) refuses."""


def _once_each(pairs: list) -> dict:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):  # json.loads keeps the last: "alg": "none", ..., "alg": "ES256"
        raise _NotEnvoysJson("gives a key twice")
    return dict(pairs)


def _finite(text: str) -> str:
    if math.isinf(float(text)):  # 1e999 is inf to json.loads, out of range to Envoy
        raise _NotEnvoysJson("holds a number beyond a double's range")
    return text


def _no_constant(name: str):
    raise _NotEnvoysJson(f"holds {name}, which JSON has not")


def _unicode(value) -> None:
    """Raises for a string holding half a surrogate pair ("\\ud800"), which is no Unicode text."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for key, item in value.items():
            _unicode(key)
            _unicode(item)
    elif isinstance(value, list):
        for item in value:
            _unicode(item)


def json_problem(segment: str) -> str | None:
    """Why a JWT's header or claims segment (base64url) is not JSON as Envoy reads it, or None.

    PyJWT reads them with json.loads, which takes a key given twice (the last wins), numbers
    beyond a double (1e999 is inf), Infinity and NaN, half a surrogate pair, and skips a UTF-8
    BOM: Envoy refuses each, so here too, or a token would pass one end and not the other."""
    try:
        text = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode("utf-8")  # a BOM stays in
        _unicode(
            json.loads(
                text, object_pairs_hook=_once_each, parse_int=_finite, parse_float=_finite, parse_constant=_no_constant
            )
        )
    except _NotEnvoysJson as problem:
        return str(problem)
    except ValueError:  # not base64url, not UTF-8, not JSON (a BOM included), a lone surrogate
        return "is not JSON text"
    return None


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
    jwks_refresh_seconds: float = DEFAULT_JWKS_REFRESH_SECONDS  # JWKS_REFRESH_SECONDS: for a JWKS URL

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AuthSettings:
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
        return cls(
            issuer,
            audience,
            url or None,
            Path(file) if file else None,
            algorithm,
            env.get("AUTH_ROLES_CLAIM", "roles"),
            config.seconds("JWKS_REFRESH_SECONDS", DEFAULT_JWKS_REFRESH_SECONDS, env),
        )


def _by_kid(keys: list[jwt.PyJWK], kid: str | None) -> jwt.PyJWK | None:
    """The signing key of id `kid` (none meant for encryption); a token naming none is taken by
    the one key of a set of one."""
    signing = [key for key in keys if key.public_key_use in ("sig", None)]
    if kid is None:
        return signing[0] if len(signing) == 1 else None
    return next((key for key in signing if key.key_id == kid), None)


class Keys(Protocol):
    async def key(self, kid: str | None) -> jwt.PyJWK | None: ...


class FileKeys:
    """A JWKS file, read again when it changes (checked at most once a second)."""

    def __init__(self, path: Path):
        self._path = path
        self._stamp: int | None = None
        self._checked = 0.0
        self._keys: list[jwt.PyJWK] = []
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
        self._keys = keys
        self._stamp = stamp

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        now = time.monotonic()
        if now - self._checked > 1.0:
            self._checked = now
            self._load()
        return _by_kid(self._keys, kid)


class UrlKeys:
    """A JWKS by URL (an identity provider's jwks_uri), fetched and kept by PyJWKClient for
    `lifespan` seconds, as the gateway keeps its own: a key id the set lacks waits for the next
    fetch, at both ends. The client's I/O blocks, so a fetch runs in a thread, one at a time; a
    fresh set is read without one. A set that cannot be fetched (or holds no key) leaves the last
    one in use, as at the gateway, and is tried again after JWKS_RETRY_SECONDS."""

    def __init__(self, url: str, lifespan: float):
        client = jwt.PyJWKClient(url, lifespan=lifespan, timeout=5)
        assert client.jwk_set_cache is not None  # cache_jwk_set is on by default
        self._client, self._cache = client, client.jwk_set_cache
        self._fetching = asyncio.Lock()
        self._failed_at = float("-inf")

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        fresh = self._cache.get()  # None once `lifespan` has passed
        if fresh is None and self._due():
            async with self._fetching:
                fresh = self._cache.get()  # another call's fetch may have just got it
                if fresh is None and self._due():
                    try:
                        fresh = await asyncio.to_thread(self._client.get_jwk_set)
                    except (jwt.PyJWKClientError, jwt.PyJWKSetError):
                        self._failed_at = time.monotonic()
        if fresh is None:
            kept = self._cache.jwk_set_with_timestamp  # the set last fetched, however old
            return None if kept is None else _by_kid(kept.get_jwk_set().keys, kid)
        return _by_kid(fresh.keys, kid)

    def _due(self) -> bool:
        return time.monotonic() - self._failed_at >= JWKS_RETRY_SECONDS


def subject_problem(subject) -> str | None:
    """Why `subject` cannot be a token's subject (SUBJECT_PATTERN's rule), or None when it can."""
    if not isinstance(subject, str):
        return "is not a string"
    if not 1 <= len(subject) <= SUBJECT_MAX_CHARACTERS:
        return f"must be 1 to {SUBJECT_MAX_CHARACTERS} characters"
    if not all(" " <= c <= "~" for c in subject):
        return "must be printable ASCII (no control character)"
    if subject[0] == " " or subject[-1] == " ":
        return "begins or ends with a space"
    return None


def _bearer(context) -> str | None:
    """The call's bearer token, or None when it shows none.

    RFC 6750, 3.1: a request that uses another authentication method (`Basic ...`), or the Bearer
    scheme with no token, lacks authentication information: it is told no error code, as a request
    with no authorization at all. So it counts as anonymous here, as it does for Envoy's jwt_authn
    (which looks for `Bearer <token>` only): a method that needs a token answers TOKEN_MISSING at
    both, and browsing the catalog is served at both, instead of one refusing what the other lets
    through."""
    values = [value for key, value in context.invocation_metadata() or () if key == "authorization"]
    if len(values) > 1:
        # Which one would count is a guess a proxy in between may make otherwise; Envoy refuses too.
        raise Unauthenticated("the authorization metadata was sent more than once", "TOKEN_INVALID")
    if not values:
        return None
    value = values[0] if isinstance(values[0], str) else values[0].decode("ascii", "replace")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class Authenticator:
    """Turns a call's bearer token into a Caller (ANONYMOUS without one), or refuses it."""

    @staticmethod
    def _key_source(settings: AuthSettings) -> Keys:
        if settings.jwks_url:
            return UrlKeys(settings.jwks_url, settings.jwks_refresh_seconds)
        if settings.jwks_file is None:  # from_env sets exactly one of the two
            raise ConfigError("set exactly one of AUTH_JWKS_URL (an https:// JWKS) and AUTH_JWKS_FILE")
        return FileKeys(settings.jwks_file)

    def __init__(self, settings: AuthSettings, keys: Keys | None = None, trust_domain: str = DEFAULT_TRUST_DOMAIN):
        self.settings = settings
        self.trust_domain = trust_domain  # whose SPIFFE IDs name our services (see tls.py)
        self._keys = keys or self._key_source(settings)
        self._verified: dict[str, tuple[Caller, str | None, jwt.PyJWK]] = {}  # token -> caller, kid, key

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Authenticator:
        return cls(AuthSettings.from_env(env), trust_domain=env.get("TLS_TRUST_DOMAIN", "") or DEFAULT_TRUST_DOMAIN)

    def service(self, context) -> str | None:
        return peer_service(context, self.trust_domain)

    async def caller(self, context) -> Caller:
        token = _bearer(context)
        if token is None:
            return ANONYMOUS
        return await self.caller_of(token)

    async def caller_of(self, token: str) -> Caller:
        """The caller `token` names, verified (or remembered as verified until it expires)."""
        if len(token) > MAX_TOKEN_CHARACTERS:
            raise Unauthenticated(f"the bearer token is longer than {MAX_TOKEN_CHARACTERS} characters", "TOKEN_INVALID")
        known = self._verified.get(token)
        if known is not None:
            caller, kid, key = known
            # Remembered only while the key that verified it is still the set's for its kid: a key
            # removed from the JWKS (or replaced) ends its tokens as soon as the set is read again.
            if caller.expires + LEEWAY_SECONDS > time.time() and await self._keys.key(kid) is key:
                return caller
            self._verified.pop(token, None)  # another call may have cleared the cache meanwhile
        caller, kid, key = await self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (caller, kid, key)
        return caller

    async def verify(self, token: str) -> Caller:
        return (await self._verify(token))[0]

    async def _verify(self, token: str) -> tuple[Caller, str | None, jwt.PyJWK]:
        """The caller, the kid and the key that verified its signature."""
        settings = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated("the bearer token is not a JWT", "TOKEN_INVALID") from None
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise Unauthenticated("the bearer token is not a JWT", "TOKEN_INVALID") from None
        for part, segment in zip(("header", "claims"), token.split(".")[:2], strict=True):
            problem = json_problem(segment)
            if problem:
                raise Unauthenticated(f"the token's {part} {problem}", "TOKEN_INVALID")
        for claim in NUMERIC_DATE_CLAIMS:  # refused before PyJWT reads "exp": "1e11" as a number
            if claim not in unverified:
                continue
            value = unverified[claim]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise Unauthenticated(f"the token's {claim} is not a NumericDate (a JSON number)", "TOKEN_INVALID")
            # Envoy reads NumericDates as unsigned 64-bit seconds, from a double: a negative one, or
            # one whose double is 2^64 or beyond (an "exp" that never comes; 2^64-1024 and up round
            # to 2^64), is refused there, so here too.
            if not 0 <= float(value) < NUMERIC_DATE_LIMIT:
                raise Unauthenticated(f"the token's {claim} is out of range", "TOKEN_INVALID")
        if header.get("alg") != settings.algorithm:
            raise Unauthenticated(f"the token's algorithm must be {settings.algorithm}", "TOKEN_INVALID")
        kid = header.get("kid")
        key = await self._keys.key(kid)
        if key is None:
            raise Unauthenticated("the token is signed with a key the issuer does not publish", "TOKEN_INVALID")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[settings.algorithm],
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=LEEWAY_SECONDS,
                # iat is a NumericDate (checked above) and nothing more: Envoy takes one in the
                # future, so a token's verdict does not hang on the issuer's clock at one end only.
                options={"require": ["exp", "iss", "aud", "sub"], "verify_iat": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", "TOKEN_EXPIRED") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token is from another issuer", "TOKEN_INVALID") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is meant for another audience", "TOKEN_INVALID") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet (its nbf is to come)", "TOKEN_INVALID") from None
        except jwt.MissingRequiredClaimError as error:
            raise Unauthenticated(f"the token has no {error.claim} claim", "TOKEN_INVALID") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not verify", "TOKEN_INVALID") from None
        except jwt.InvalidTokenError:  # in our words, never the library's
            raise Unauthenticated("the token is not a valid JWT of this issuer", "TOKEN_INVALID") from None
        problem = subject_problem(claims["sub"])  # PyJWT takes "" or "   " for a subject; Envoy does not
        if problem:
            raise Unauthenticated(f"the token's subject {problem}", "TOKEN_INVALID")
        roles = claims.get(settings.roles_claim, [])
        roles = [roles] if isinstance(roles, str) else roles if isinstance(roles, list) else []
        caller = Caller(
            subject=str(claims["sub"]),
            roles=frozenset(r for r in roles if isinstance(r, str)),
            token=token,
            expires=float(claims["exp"]),
        )
        return caller, kid, key


# -- what a method asks of its caller -------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """Who may call a method: anyone, an authenticated caller with one of `roles`, or the one
    service named `service` (by its client certificate, whatever token it carries). With
    `backends`, also any backend service, by its certificate: one of ours, or another backend of
    the trust domain (a fulfilment service reading a feed), but none of NOT_BACKENDS."""

    roles: frozenset[str] | None = None  # None: anyone, even anonymous
    service: str | None = None
    backends: bool = False

    @property
    def reads_certificate(self) -> bool:
        """Whether the caller's certificate decides (the guard reads it only then)."""
        return self.service is not None or self.backends

    def check(self, caller: Caller, method: str) -> None:
        if self.service is not None:
            if caller.service != self.service:
                raise PermissionDenied(
                    f"{method} is for the {self.service} service only", "SERVICE_REQUIRED", self.service
                )
            return
        if self.backends and caller.service is not None and caller.service not in NOT_BACKENDS:
            return
        if self.roles is None:
            return
        if not caller.authenticated:
            raise Unauthenticated(f"{method} needs a bearer token", "TOKEN_MISSING")
        if not caller.roles & self.roles:
            required = " or ".join(sorted(self.roles))
            if self.backends:
                required += " or a backend service's certificate"
            raise PermissionDenied(f"{method} is for {required}", "ROLE_REQUIRED", required)


# Identities of the trust domain that are no backend service: the gateway relays JSON clients'
# calls, so a call through it is as good as the bearer token it carries, never a service's own;
# `client` is the local stack's certificate for development tools (devstack/pki.py).
NOT_BACKENDS = frozenset({"gateway", "client"})
ANYONE = Rule()
STAFF_ONLY = Rule(frozenset({STAFF}))
SIGNED_IN = Rule(frozenset({STAFF, CUSTOMER}))
# What other backends read (the change feeds): the staff, and backend services by their certificates.
STAFF_OR_BACKENDS = Rule(frozenset({STAFF}), backends=True)


def service_only(name: str) -> Rule:
    return Rule(service=name)


class Access:
    """Who may call what in one service: the Rule of each method of its gRPC service (stated in
    the service's access.py), decided on callers its Authenticator verifies. The one interface
    through which a call, or a token a request carries, is let in or refused.

    Every method of the service needs a rule: one without is an error before the service serves,
    so no method is ever open by omission. Without an Authenticator every rule must be ANYONE, and
    no call's token is read (the health service: anyone may ask whether a server serves).
    """

    def __init__(self, service: ServiceDescriptor, rules: Mapping[str, Rule], authenticator: Authenticator | None):
        for method in service.methods:
            if method.name not in rules:
                raise TypeError(f"{service.full_name}/{method.name} has no access rule")
        if authenticator is None and any(rule != ANYONE for rule in rules.values()):
            raise TypeError(f"{service.full_name}: a rule but ANYONE needs an Authenticator")
        self.service = service
        self._rules = rules
        self._authenticator = authenticator

    async def caller(self, method: str, context) -> Caller:
        """The verified caller of a call of `method`, if the method's rule lets it in."""
        if self._authenticator is None:
            return ANONYMOUS
        rule = self._rules[method]
        caller = await self._authenticator.caller(context)
        if rule.reads_certificate:  # read the peer's certificate only where it decides
            caller = dataclasses.replace(caller, service=self._authenticator.service(context))
        rule.check(caller, method)
        return caller

    async def caller_of(self, token: str, method: str) -> Caller:
        """The caller `token` names, if `method`'s rule would let it call: for a token a request
        carries on behalf of someone else (customers' BatchGetCustomers lookups)."""
        if self._authenticator is None:
            raise TypeError("an Access without an Authenticator verifies no token")
        caller = await self._authenticator.caller_of(token)
        self._rules[method].check(caller, method)
        return caller
