"""Haiku prompts: one Messages API call to Claude Haiku per sentence.

The client is the official ``anthropic`` SDK, which reads ``ANTHROPIC_API_KEY`` and
``ANTHROPIC_BASE_URL`` from the environment and retries 429, 529, 5xx and dropped
connections itself (``config.HAIKU_MAX_RETRIES`` times, honouring ``retry-after``).
Whatever still fails becomes a ``PromptError`` subclass whose message says what to do.

Money: a call that fails is not billed and records nothing. A call that returns is
billed, so its usage is recorded with ``cost_tracker.add_api_call`` even when its
reply holds no usable prompt (``EmptyReplyError`` is raised after recording).
"""

from __future__ import annotations

import atexit
import difflib
import hashlib
import os
import threading
import time
from collections.abc import Mapping

import anthropic
from anthropic.types import Message

from scenewright import config, pricing
from scenewright.api_key import API_KEY_HELP, KEYS_URL, check_api_key
from scenewright.errors import (
    AuthenticationError,
    ConfigError,
    EmptyReplyError,
    MissingAPIKeyError,
    ModelNotFoundError,
    PromptError,
    RateLimitError,
    ServiceError,
    UnknownModelError,
)
from scenewright.prompt_generator import (
    CostTrackerLike,
    PromptResult,
    SceneContext,
    build_haiku_request,
    clean_reply,
)
from scenewright.usage import Usage

__all__ = [
    "API_KEY_HELP",
    "check_api_key",
    "clean_reply",
    "generate_haiku_prompt",
    "make_client",
    "reply_text",
    "shared_client",
]

MODELS_URL = "https://docs.anthropic.com/en/docs/about-claude/models"


def make_client() -> anthropic.Anthropic:
    """A new client configured from the environment, with retries and timeout from config."""
    check_api_key()
    return anthropic.Anthropic(
        max_retries=config.HAIKU_MAX_RETRIES, timeout=config.HAIKU_TIMEOUT_SECONDS
    )


_shared: tuple[str, anthropic.Anthropic] | None = None
_shared_lock = threading.Lock()


def _environment_fingerprint() -> str:
    # A digest, so that no second copy of the key sits in this module.
    parts = [
        os.environ.get(name) or ""
        for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")
    ]
    parts += [str(config.HAIKU_MAX_RETRIES), str(config.HAIKU_TIMEOUT_SECONDS), str(os.getpid())]
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def shared_client() -> anthropic.Anthropic:
    """The client calls use when none is passed: made once, reused while the environment
    is unchanged, since a new client costs a certificate load and a TLS handshake and a
    novel has thousands of sentences.
    """
    global _shared
    check_api_key()
    fingerprint = _environment_fingerprint()
    with _shared_lock:
        if _shared is not None and _shared[0] == fingerprint:
            return _shared[1]
        old, _shared = _shared, (fingerprint, make_client())
        client = _shared[1]
    if old is not None:
        old[1].close()
    return client


@atexit.register
def _close_shared_client() -> None:
    global _shared
    with _shared_lock:
        old, _shared = _shared, None
    if old is not None:
        old[1].close()


def reply_text(message: Message) -> str:
    """The text of the reply's text blocks; thinking and any other blocks are skipped."""
    return "".join(block.text for block in message.content if block.type == "text")


def _usage(message: Message) -> Usage:
    usage = message.usage
    return Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
        cache_read_input_tokens=usage.cache_read_input_tokens or 0,
    )


def _where(client: anthropic.Anthropic) -> str:
    url = client.base_url
    # Only scheme, host and port: a URL with user:password@ must not be printed.
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"


def _described(err: anthropic.APIStatusError) -> str:
    kind = f" {err.type}" if err.type else ""
    detail = f": {err.api_message}" if err.api_message else ""
    request = f" (request id {err.request_id})" if err.request_id else ""
    return f"{err.status_code}{kind}{detail}{request}"


def _translate(err: anthropic.APIError, model: str, client: anthropic.Anthropic) -> PromptError:
    """The scenewright error, with its fix, for an SDK error that survived the retries."""
    retries = f"after {client.max_retries} retries" if client.max_retries else "with no retries"
    if isinstance(err, anthropic.APITimeoutError):
        return ServiceError(
            f"The Anthropic API did not answer in time ({retries}). It may be busy; "
            "run the same command again later, and the prompts already written are kept."
        )
    if isinstance(err, anthropic.APIConnectionError):
        where = _where(client)
        hint = (
            f" ANTHROPIC_BASE_URL is set to {where}: check it, or unset it to use the real API."
            if os.environ.get("ANTHROPIC_BASE_URL")
            else " Check your internet connection, proxy or firewall."
        )
        return ServiceError(f"Could not connect to the Anthropic API at {where} ({retries}).{hint}")
    if not isinstance(err, anthropic.APIStatusError):
        return ServiceError(
            f"The Anthropic API sent a reply scenewright cannot read ({err.message}). "
            "Run the same command again later."
        )
    what = _described(err)
    if isinstance(err, anthropic.NotFoundError):
        return ModelNotFoundError(
            f"The Anthropic API does not know the model {model!r} ({what}): it is retired "
            f"or misspelt. Leave out --model to use the default, {config.DEFAULT_HAIKU_MODEL!r}, "
            f"or pass a current model id with --model (see {MODELS_URL})."
        )
    if isinstance(err, anthropic.AuthenticationError):
        return AuthenticationError(
            f"The Anthropic API refused the key in ANTHROPIC_API_KEY ({what}). Check that "
            "it is copied in full and has not been revoked.\n" + API_KEY_HELP
        )
    if isinstance(err, anthropic.PermissionDeniedError):
        return AuthenticationError(
            f"The key in ANTHROPIC_API_KEY may not use model {model!r} ({what}). Check the "
            f"key's workspace and its model permissions at {KEYS_URL}, or use another key."
        )
    if isinstance(err, anthropic.RateLimitError):
        wait = err.response.headers.get("retry-after")
        asked = f" The API asked to wait {wait} seconds." if wait else ""
        return RateLimitError(
            f"The Anthropic API is still rate limiting this key ({what}), {retries}.{asked} "
            "Wait a minute and run the same command again: the prompts already written "
            "are kept. Your rate limits are at https://console.anthropic.com/settings/limits."
        )
    if err.status_code == 529:
        return RateLimitError(
            f"The Anthropic API is overloaded ({what}), {retries}. This is on Anthropic's "
            "side: wait a few minutes and run the same command again, or use --llm keyword."
        )
    if err.status_code >= 500:
        return ServiceError(
            f"The Anthropic API failed ({what}), {retries}. This is on Anthropic's side: "
            "run the same command again later (see https://status.anthropic.com)."
        )
    if err.api_message and "credit balance" in err.api_message.lower():
        return PromptError(
            f"The Anthropic account has no credit left ({what}). Add credit at "
            "https://console.anthropic.com/settings/billing, or use --llm keyword."
        )
    return PromptError(f"The Anthropic API refused the request for model {model!r} ({what}).")


def _with_suggestion(err: UnknownModelError, model: str) -> UnknownModelError:
    """``err`` with the priced model ``model`` was probably meant to be, if one is close."""
    close = difflib.get_close_matches(model, pricing.known_models(), n=1, cutoff=0.8)
    if not close:
        return err
    return UnknownModelError(f"{err} Did you mean {close[0]!r}? Check the spelling of --model.")


def _check_client(client: anthropic.Anthropic) -> None:
    if client.api_key is None and client.auth_token is None and client.credentials is None:
        raise MissingAPIKeyError(
            "The Anthropic client has no API key: ANTHROPIC_API_KEY was not set when it "
            "was created.\n" + API_KEY_HELP
        )


def generate_haiku_prompt(
    sentence: str,
    *,
    context: SceneContext | None = None,
    characters: Mapping[str, str] | None = None,
    model: str | None = None,
    cost_tracker: CostTrackerLike | None = None,
    client: anthropic.Anthropic | None = None,
) -> PromptResult:
    """Ask Claude for the SDXL prompt of ``sentence``; see ``prompt_generator.generate_prompt``."""
    model = config.DEFAULT_HAIKU_MODEL if model is None else model.strip()
    if not model:
        raise ConfigError(
            f"The model name is empty. Leave out --model to use {config.DEFAULT_HAIKU_MODEL!r}."
        )
    if not sentence.strip():
        raise PromptError("There is nothing to illustrate: the sentence is empty.")
    # An unpriced model must fail before its first request, not after it is paid for.
    try:
        pricing.check_model(model)
    except UnknownModelError as err:
        raise _with_suggestion(err, model) from None
    request = build_haiku_request(sentence, context, characters, model)
    if client is not None:
        _check_client(client)
    active = shared_client() if client is None else client

    started = time.perf_counter()
    try:
        message = active.messages.create(
            model=request.model,
            max_tokens=request.max_tokens,
            system=request.system,
            messages=[{"role": "user", "content": request.user_message}],
        )
    except anthropic.APIError as err:
        raise _translate(err, model, active) from err
    duration = time.perf_counter() - started

    if cost_tracker is not None:
        cost = cost_tracker.add_api_call(usage=message.usage, model=model, response_id=message.id)
    else:
        cost = pricing.cost_of(message.usage, model)

    prompt = clean_reply(reply_text(message))
    if not prompt:
        stop = f" (stop reason: {message.stop_reason})" if message.stop_reason else ""
        raise EmptyReplyError(
            f"{model} answered with no usable prompt{stop} for the sentence "
            f"{_preview(sentence)!r}. The call was billed and is recorded. Run the same "
            "command again to retry it, or use --llm keyword for this text."
        )
    return PromptResult(
        prompt=prompt,
        method="haiku",
        model=model,
        usage=_usage(message),
        cost_usd=cost,
        duration_s=duration,
        response_id=message.id,
    )


def _preview(sentence: str, limit: int = 80) -> str:
    text = " ".join(sentence.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
