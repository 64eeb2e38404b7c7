"""The Anthropic API key: checked without importing the anthropic SDK.

The SDK takes seconds to import; saying that the key is missing must not.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from scenewright.errors import ConfigError, MissingAPIKeyError

__all__ = [
    "API_KEY_HELP",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "KEYS_URL",
    "check_api_key",
    "check_base_url",
    "describe_base_url",
]

KEYS_URL = "https://console.anthropic.com/settings/keys"

API_KEY_HELP = f"""\
Create a key at {KEYS_URL}, then set it in the terminal you run scenewright from:
  Windows (PowerShell):  $env:ANTHROPIC_API_KEY = "sk-ant-..."
  Windows (cmd.exe):     set ANTHROPIC_API_KEY=sk-ant-...
  macOS / Linux:         export ANTHROPIC_API_KEY="sk-ant-..."
Or use --llm keyword, which runs locally and costs nothing."""


# Straight, curly and angled quotes, and the backtick: none is ever part of an API key.
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"


def check_api_key() -> None:
    """Fail before any request when ``ANTHROPIC_API_KEY`` is missing or mangled.

    The key itself never appears in a message.
    """
    key = os.environ.get("ANTHROPIC_API_KEY")
    if key is None or not key.strip():
        if os.environ.get("ANTHROPIC_AUTH_TOKEN", "").strip():
            return  # the SDK's other credential; it knows what to do with it
        state = "is empty" if key is not None else "is not set"
        raise MissingAPIKeyError(
            f"ANTHROPIC_API_KEY {state}: the haiku method needs an Anthropic API key.\n"
            + API_KEY_HELP
        )
    if any(quote in key for quote in _QUOTES):
        # cmd.exe keeps the quotes of `set ANTHROPIC_API_KEY="sk-ant-..."` in the value, and
        # the API then refuses a key that looks right when echoed in PowerShell or a script.
        raise MissingAPIKeyError(
            "ANTHROPIC_API_KEY has quotes in it: they became part of the value, and an API "
            'key never contains any. In cmd.exe, `set ANTHROPIC_API_KEY="sk-ant-..."` keeps '
            "the quotes; set it again without them: set ANTHROPIC_API_KEY=sk-ant-...\n"
            + API_KEY_HELP
        )
    if key.strip().upper().startswith("ANTHROPIC_API_KEY="):
        raise MissingAPIKeyError(
            "ANTHROPIC_API_KEY holds 'ANTHROPIC_API_KEY=' followed by the key: the name was "
            "pasted into the value. Set it again with only the key after the = sign.\n"
            + API_KEY_HELP
        )
    if key != key.strip() or not key.isascii() or not key.isprintable():
        # A pasted key with a line break or curly quotes fails deep inside HTTP with
        # an error that says nothing about the key.
        raise MissingAPIKeyError(
            "ANTHROPIC_API_KEY contains spaces, line breaks, quotes or other characters "
            "that an API key never has. Set it again, copying only the key itself "
            "(it starts with sk-ant-).\n" + API_KEY_HELP
        )


# The variable the anthropic SDK reads for another API address (a proxy, a test server).
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
# What the SDK uses when BASE_URL_ENV is not set; an address must look like it.
DEFAULT_BASE_URL = "https://api.anthropic.com"
# "user:password@" at the start or after "//": credentials that a message must not show.
_USERINFO = re.compile(r"(^|//)[^/?#@\s]*@")
_SHOWN_MAX_CHARS = 120


def describe_base_url(value: str) -> str:
    """``value`` as it may be shown in a message: without user, password, query or fragment.

    The address itself is not a secret, and showing what was set is what lets the user see
    the mistake; credentials embedded in it, or an API key pasted into it, are never shown.
    """
    text = value.strip()
    if "sk-ant-" in text:
        return "(what looks like an API key, which belongs in ANTHROPIC_API_KEY)"
    text = _USERINFO.sub(r"\1", text)
    if "@" in text:
        # A password with a "/" or "?" in it escapes the pattern: drop all up to the last @.
        at = text.rfind("@")
        start = text.find("//")
        text = (text[: start + 2] if 0 <= start < at else "") + text[at + 1 :]
    text = re.split(r"[?#]", text, maxsplit=1)[0]
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    if len(text) > _SHOWN_MAX_CHARS:
        text = text[: _SHOWN_MAX_CHARS - 1] + "\u2026"
    return text


def _is_web_address(value: str) -> bool:
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:  # "http://[::1" or "http://host:port"
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host)


def check_base_url() -> None:
    """Fail before any request when ``ANTHROPIC_BASE_URL`` is set to something that is
    not a web address: the SDK would try it anyway and fail with a connection error that
    names neither the variable nor its value.
    """
    value = os.environ.get(BASE_URL_ENV)
    if value is None:
        return
    if not value.strip():
        problem = "is set but empty"
    elif value != value.strip():
        problem = f"is set to {describe_base_url(value)!r} with spaces around it"
    else:
        if _is_web_address(value):
            return
        problem = f"is set to {describe_base_url(value)!r}, which is not a web address"
    raise ConfigError(
        f"{BASE_URL_ENV} {problem}. It must look like {DEFAULT_BASE_URL} (or your proxy's "
        f"address, starting with https://). Unset it to use the real API: "
        f"`unset {BASE_URL_ENV}` (macOS, Linux), `Remove-Item Env:{BASE_URL_ENV}` "
        f"(PowerShell), `set {BASE_URL_ENV}=` (cmd.exe)."
    )
