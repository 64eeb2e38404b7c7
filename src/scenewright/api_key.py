"""The Anthropic API key: checked without importing the anthropic SDK.

The SDK takes seconds to import; saying that the key is missing must not.
"""

from __future__ import annotations

import os

from scenewright.errors import MissingAPIKeyError

__all__ = ["API_KEY_HELP", "KEYS_URL", "check_api_key"]

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
