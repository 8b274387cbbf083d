"""Deploy-time settings: every CDK context key Carton reads, parsed and checked in one place.

Set them in cdk.json, with `cdk --context key=value`, or through `make synth|deploy` with
CARTON_CONTEXT (see infra/context.py). A wrong value stops synthesis with a message
(ConfigurationError) instead of deploying something half-configured.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from carton.downloads.models import MAX_EXPIRY_DAYS
from carton.shared import config

# Graviton by default (cheaper per GB-second); `architecture=x86_64` picks Intel.
ARCHITECTURE_NAMES = ("arm64", "x86_64")
DEFAULT_ARCHITECTURE = "arm64"
DEFAULT_API_RATE_LIMIT = 50
DEFAULT_API_BURST_LIMIT = 100
# Five downloads packing with the default pack_concurrency (10) at once; more wait their turn.
DEFAULT_PACK_RESERVED_CONCURRENCY = 50
# Requests per client address in any 5 minutes (WAF's rate-based rule window).
DEFAULT_WAF_RATE_LIMIT = 2000
# scheme://host[:port], nothing else: what a browser sends in its Origin header.
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
_SWITCH = {"on": True, "true": True, "off": False, "false": False}
MAIL_FROM_MISSING = (
    "E-mail notifications need a sender: deploy with "
    "CARTON_CONTEXT=\"mail_from='Carton <no-reply@your.domain>'\" (an SES-verified identity), "
    "or with email=off"
)


class ConfigurationError(ValueError):
    """A context value Carton cannot deploy with; the message says what to set instead."""


@dataclass(frozen=True)
class DeploySettings:
    archive_expiry_days: int
    deletion_protection: bool
    architecture: str
    # Browser origins the API and the buckets answer CORS for; empty: no CORS anywhere.
    cors_origins: tuple[str, ...]
    # The SES sender of notification e-mails; None when e-mail is off.
    mail_from: str | None
    public_base_url: str | None
    pack_concurrency: int | None
    # Swagger UI at /api/v1/docs (no key needed to read it; trying requests needs one).
    docs: bool = False
    # Who the alarms e-mail (an SNS subscription to confirm); None: the topic only.
    alarm_email: str | None = None
    # The API stage's steady rate (requests per second) and burst, across all clients.
    api_rate_limit: int = DEFAULT_API_RATE_LIMIT
    api_burst_limit: int = DEFAULT_API_BURST_LIMIT
    # Concurrent pack workers of all downloads together, reserved (so they never take the
    # account's concurrency from the API) and capped; None: neither.
    pack_reserved_concurrency: int | None = DEFAULT_PACK_RESERVED_CONCURRENCY
    # AWS WAF in front of the API: the managed common rule set and a per-address rate rule.
    waf: bool = False
    waf_rate_limit: int = DEFAULT_WAF_RATE_LIMIT

    @property
    def switches(self) -> frozenset[str]:
        """The optional routes this stack deploys (carton.web.routes.Route.deployed_with)."""
        return frozenset(name for name, on in (("docs", self.docs),) if on)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _switch(key: str, value: Any, default: bool) -> bool:
    text = _text(value).lower()
    if not text:
        return default
    if text not in _SWITCH:
        raise ConfigurationError(f"context {key}={value!r}: use on or off")
    return _SWITCH[text]


def _whole_number(key: str, value: Any, default: int | None) -> int | None:
    text = _text(value)
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ConfigurationError(f"context {key}={value!r}: use a whole number of at least 1")
    return int(text)


def _count(key: str, value: Any, default: int) -> int:
    return _whole_number(key, value, None) or default


def cors_origins(value: Any) -> tuple[str, ...]:
    """`https://a.example, https://b.example` (commas or spaces) -> the origins, checked."""
    origins = config.parse_origins(_text(value))
    wrong = [origin for origin in origins if not _ORIGIN.match(origin)]
    if wrong:
        raise ConfigurationError(
            f"context cors_origins: {', '.join(wrong)} is not an origin; name each one as "
            "scheme://host[:port] (no path, no '*'), separated by commas or spaces"
        )
    return origins


def mail_from(email: Any, sender: Any) -> str | None:
    if not _switch("email", email, default=True):
        return None
    text = _text(sender)
    if not text:
        raise ConfigurationError(MAIL_FROM_MISSING)
    if "@" not in parseaddr(text)[1]:
        raise ConfigurationError(f"context mail_from={text!r} has no e-mail address; {MAIL_FROM_MISSING}")
    return text


def from_context(get: Callable[[str], Any]) -> DeploySettings:
    """The settings from CDK context (`get` is a node's try_get_context)."""
    architecture = _text(get("architecture")) or DEFAULT_ARCHITECTURE
    if architecture not in ARCHITECTURE_NAMES:
        raise ConfigurationError(f"context architecture={architecture!r}: use {' or '.join(ARCHITECTURE_NAMES)}")
    expiry = _whole_number("archive_expiry_days", get("archive_expiry_days"), default=None)
    expiry = expiry or config.DEFAULT_ARCHIVE_EXPIRY_DAYS
    if expiry > MAX_EXPIRY_DAYS:  # a lifecycle rule per shorter life: S3 takes 1,000 rules at most
        raise ConfigurationError(f"context archive_expiry_days={expiry}: at most {MAX_EXPIRY_DAYS}")
    return DeploySettings(
        archive_expiry_days=expiry,
        deletion_protection=_switch("deletion_protection", get("deletion_protection"), default=True),
        architecture=architecture,
        cors_origins=cors_origins(get("cors_origins")),
        mail_from=mail_from(get("email"), get("mail_from")),
        public_base_url=_text(get("public_base_url")) or None,
        pack_concurrency=_whole_number("pack_concurrency", get("pack_concurrency"), default=None),
        docs=_switch("docs", get("docs"), default=False),
        alarm_email=alarm_email(get("alarm_email")),
        api_rate_limit=_count("api_rate_limit", get("api_rate_limit"), DEFAULT_API_RATE_LIMIT),
        api_burst_limit=_count("api_burst_limit", get("api_burst_limit"), DEFAULT_API_BURST_LIMIT),
        pack_reserved_concurrency=None
        if _text(get("pack_reserved_concurrency")).lower() == "off"
        else _whole_number(
            "pack_reserved_concurrency", get("pack_reserved_concurrency"), DEFAULT_PACK_RESERVED_CONCURRENCY
        ),
        waf=_switch("waf", get("waf"), default=False),
        waf_rate_limit=_count("waf_rate_limit", get("waf_rate_limit"), DEFAULT_WAF_RATE_LIMIT),
    )


def alarm_email(value: Any) -> str | None:
    text = _text(value)
    if not text:
        return None
    if "@" not in parseaddr(text)[1] or parseaddr(text)[1] != text:
        raise ConfigurationError(f"context alarm_email={text!r}: use one e-mail address, e.g. ops@your.domain")
    return text
