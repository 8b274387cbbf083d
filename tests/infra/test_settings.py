"""Deploy-time settings (CDK context) and CARTON_CONTEXT, the Makefile's way to pass them."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.bundling import wheel_platforms
from infra.context import context_arguments
from infra.settings import DEFAULT_ARCHITECTURE, ConfigurationError, DeploySettings, from_context

ROOT = Path(__file__).resolve().parents[2]


def settings(**context: Any) -> DeploySettings:
    return from_context({"mail_from": "Carton <no-reply@carton.example>", **context}.get)


def test_defaults() -> None:
    found = settings()
    assert found.architecture == DEFAULT_ARCHITECTURE == "arm64"
    assert found.cors_origins == ()
    assert found.mail_from == "Carton <no-reply@carton.example>"
    assert found.deletion_protection is True
    assert found.archive_expiry_days == 7
    assert found.pack_concurrency is None


def test_email_on_needs_a_sender_and_says_how_to_give_one() -> None:
    for context in ({}, {"email": "on"}, {"email": True}):
        with pytest.raises(ConfigurationError, match=r"need a sender: .*CARTON_CONTEXT=.*mail_from=.*email=off"):
            from_context(context.get)
    with pytest.raises(ConfigurationError, match="no e-mail address"):
        from_context({"mail_from": "Carton"}.get)
    assert from_context({"email": "off"}.get).mail_from is None
    assert from_context({"email": False, "mail_from": "a@b.example"}.get).mail_from is None
    with pytest.raises(ConfigurationError, match="use on or off"):
        from_context({"email": "maybe", "mail_from": "a@b.example"}.get)


def test_cors_origins_are_parsed_with_the_runtime_parser_and_checked() -> None:
    found = settings(cors_origins="https://app.example, https://admin.example:8443 https://app.example/")
    assert found.cors_origins == ("https://app.example", "https://admin.example:8443")
    for wrong in ("*", "app.example", "https://app.example/path", "mail_from=a@b.example"):
        with pytest.raises(ConfigurationError, match="is not an origin"):
            settings(cors_origins=f"https://ok.example {wrong}")


def test_architecture_and_numbers_are_checked() -> None:
    assert settings(architecture="x86_64").architecture == "x86_64"
    with pytest.raises(ConfigurationError, match="arm64 or x86_64"):
        settings(architecture="aarch64")
    assert settings(pack_concurrency="4").pack_concurrency == 4
    assert settings(archive_expiry_days=3).archive_expiry_days == 3
    with pytest.raises(ConfigurationError, match="at most 365"):
        settings(archive_expiry_days=366)
    with pytest.raises(ConfigurationError, match="whole number"):
        settings(pack_concurrency="0")
    assert settings(deletion_protection="false").deletion_protection is False


def test_wheels_are_built_for_the_functions_architecture() -> None:
    assert all(platform.endswith("_aarch64") for platform in wheel_platforms("arm64"))
    assert all(platform.endswith("_x86_64") for platform in wheel_platforms("x86_64"))


def test_carton_context_becomes_cdk_context_arguments() -> None:
    text = "cors_origins=https://app.example mail_from='Carton <ops@x.example>' email=on"
    assert context_arguments(text) == [
        "--context",
        "cors_origins=https://app.example",
        "--context",
        "mail_from=Carton <ops@x.example>",
        "--context",
        "email=on",
    ]
    assert context_arguments('cors_origins="https://a.example https://b.example"') == [
        "--context",
        "cors_origins=https://a.example https://b.example",
    ]
    assert context_arguments("  ") == []
    with pytest.raises(ValueError, match="not key=value"):
        context_arguments("mail_from=Carton <ops@x.example>")  # unquoted: "<ops@x.example>" stands alone
    with pytest.raises(ValueError, match="CARTON_CONTEXT"):
        context_arguments("mail_from='Carton")


def test_the_makefile_hands_each_pair_to_the_cdk_cli_as_one_argument() -> None:
    """As `make synth` does it: the printed arguments are eval'ed into the command line."""
    odd = "odd='$HOME; `false` \"q\"'"
    env = {**os.environ, "CARTON_CONTEXT": f'a=1 mail_from="Carton <ops@x.example>" {odd}'}
    script = f'context=$("{sys.executable}" -m infra.context) && eval "set -- $context" && printf "%s\\n" "$@"'
    argv = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert argv == [
        "--context",
        "a=1",
        "--context",
        "mail_from=Carton <ops@x.example>",
        "--context",
        shlex.split(odd)[0],
    ]
    refused = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env={**env, "CARTON_CONTEXT": "oops"}, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "not key=value" in refused.stderr and not refused.stdout


def test_operations_settings_have_safe_defaults_and_are_checked() -> None:
    found = settings()
    assert (found.alarm_email, found.waf, found.docs) == (None, False, False)
    assert (found.api_rate_limit, found.api_burst_limit, found.pack_reserved_concurrency) == (50, 100, 50)
    chosen = settings(alarm_email="ops@x.example", waf="on", waf_rate_limit="500", pack_reserved_concurrency="off")
    assert (chosen.alarm_email, chosen.waf, chosen.waf_rate_limit, chosen.pack_reserved_concurrency) == (
        "ops@x.example",
        True,
        500,
        None,
    )
    assert settings(pack_reserved_concurrency="20").pack_reserved_concurrency == 20
    with pytest.raises(ConfigurationError, match="one e-mail address"):
        settings(alarm_email="Ops <ops@x.example>, b@x.example")
    with pytest.raises(ConfigurationError, match="whole number"):
        settings(api_rate_limit="fast")
