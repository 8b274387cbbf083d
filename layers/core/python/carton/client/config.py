"""Where the API is and which key to use: flags, then CARTON_API_URL / CARTON_TOKEN, then a
profile in ~/.config/carton/config.toml, then the local stack `make run` serves.

    [default]
    api_url = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
    token = "ctn_..."

    [profiles.staging]
    api_url = "..."
    token = "..."
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from carton.web.routes import API_PREFIX

ENV_API_URL = "CARTON_API_URL"
ENV_TOKEN = "CARTON_TOKEN"  # noqa: S105 (the variable's name, not a secret)
ENV_PROFILE = "CARTON_PROFILE"
ENV_CONFIG = "CARTON_CONFIG"  # another config file (tests, several setups)
# `make run` serves on this port unless told otherwise; its banner exports CARTON_PORT.
ENV_LOCAL_PORT = "CARTON_PORT"
DEFAULT_LOCAL_PORT = 3000


class ConfigError(Exception):
    """A profile that is named but missing, or a config file that does not parse."""


@dataclass(frozen=True)
class Profile:
    api_url: str  # scheme://host[:port][/stage], without /api/v1
    token: str | None
    source: str  # where the URL came from, for error messages


def config_path() -> Path:
    if explicit := os.environ.get(ENV_CONFIG):
        return Path(explicit)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "carton" / "config.toml"


def _profiles(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    try:
        document = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from error
    found = {name: dict(values) for name, values in document.get("profiles", {}).items()}
    if "default" in document:
        found.setdefault("default", dict(document["default"]))
    return found


def _base(url: str) -> str:
    """The API's base URL as people paste it: with or without /api/v1, with or without a slash."""
    url = url.strip().rstrip("/")
    return url.removesuffix(API_PREFIX)


def load_profile(name: str | None = None, api_url: str | None = None, token: str | None = None) -> Profile:
    """The API to talk to and the key, each from the first place that has it."""
    chosen = name or os.environ.get(ENV_PROFILE)
    profiles = _profiles(config_path())
    if chosen is not None and chosen not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(f"no profile {chosen!r} in {config_path()} (profiles: {known})")
    profile = profiles.get(chosen or "default", {})
    if api_url:
        url, source = api_url, "--api-url"
    elif (env_url := os.environ.get(ENV_API_URL)) and chosen is None:
        url, source = env_url, ENV_API_URL
    elif "api_url" in profile:
        url, source = profile["api_url"], f"profile {chosen or 'default'}"
    else:
        port = os.environ.get(ENV_LOCAL_PORT) or DEFAULT_LOCAL_PORT
        url, source = f"http://127.0.0.1:{port}", "the local stack (make run)"
    # A key goes only where it was configured for: a profile's key to that profile's API,
    # CARTON_TOKEN to any other (the environment's, a flag's, the local stack).
    from_profile = source.startswith("profile")
    environment = os.environ.get(ENV_TOKEN) if chosen is None else None
    key = token or (profile.get("token") if from_profile else environment)
    return Profile(api_url=_base(url), token=key, source=source)
