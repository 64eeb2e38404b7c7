"""Haiku prompts: one Messages API call to Claude Haiku per sentence.

The client is the official ``anthropic`` SDK, which reads ``ANTHROPIC_API_KEY`` and
``ANTHROPIC_BASE_URL`` from the environment and retries 429, 529, 5xx and dropped
connections itself (``config.HAIKU_MAX_RETRIES`` times, honouring ``retry-after``).
Whatever still fails becomes a ``PromptError`` subclass whose message says what to do.

Money: a call that fails is not billed and records nothing. A call that returns is
billed, so its usage is recorded with ``cost_tracker.add_api_call`` even when its
reply holds no usable prompt (``EmptyReplyError`` is raised after recording): an empty
reply, or a refusal (``stop_reason == "refusal"``), whose text is an apology, not a
prompt. A reply cut off at ``max_tokens`` is kept: its start is a usable prompt, and
the instructions ask for far fewer words than the limit allows. A call
made without a ``cost_tracker`` is recorded all the same, in the per-process session
``DEFAULT_SESSION_NAME`` (see ``default_cost_tracker``): no paid call goes unrecorded.
"""

from __future__ import annotations

import atexit
import difflib
import hashlib
import os
import threading
import time
import warnings
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import unquote

import anthropic
from anthropic.types import Message

from scenewright import config, pricing
from scenewright.api_key import (
    API_KEY_HELP,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    KEYS_URL,
    check_api_key,
    check_base_url,
    describe_base_url,
)
from scenewright.cost_tracker import CostTracker
from scenewright.errors import (
    AuthenticationError,
    ConfigError,
    EmptyReplyError,
    MissingAPIKeyError,
    ModelNotFoundError,
    PromptError,
    RateLimitError,
    ScenewrightError,
    ScenewrightWarning,
    ServiceError,
    ServiceUnavailableError,
    UnknownModelError,
)
from scenewright.prompt_generator import (
    CostTrackerLike,
    PromptResult,
    SceneContext,
    build_haiku_request,
    clean_reply,
    without_controls,
)
from scenewright.usage import Usage

__all__ = [
    "API_KEY_HELP",
    "DEFAULT_SESSION_NAME",
    "check_api_key",
    "clean_reply",
    "default_cost_tracker",
    "generate_haiku_prompt",
    "make_client",
    "reply_text",
    "shared_client",
]

MODELS_URL = "https://docs.anthropic.com/en/docs/about-claude/models"


def make_client() -> anthropic.Anthropic:
    """A new client configured from the environment, with retries and timeout from config."""
    check_api_key()
    check_base_url()
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
    check_base_url()
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


# The ledger session that records Claude calls made without a cost_tracker (the design
# document's function is the usual way to make one).
DEFAULT_SESSION_NAME = "generate_prompt_with_haiku"

# (pid, tracker): a forked child must not write into its parent's journal.
_default: tuple[int, CostTracker] | None = None
_default_lock = threading.Lock()
_default_atexit = False


def default_cost_tracker() -> CostTracker:
    """The session that records calls made without a ``cost_tracker``.

    Made on first use, one per process and cost folder (a changed
    ``SCENEWRIGHT_COSTS_DIR`` gets a new session there, after the old one is closed),
    saved to the ledger after each call, and closed when the interpreter exits. Making it
    raises :class:`~scenewright.errors.LedgerError` when the cost folder cannot be written
    or the ledger cannot be read, so that no call is paid for without a record.
    """
    global _default, _default_atexit
    folder = config.costs_dir()
    with _default_lock:
        old = _default
        if (
            old is not None
            and old[0] == os.getpid()
            and old[1].costs_dir == folder
            and not old[1].closed
        ):
            return old[1]
        tracker = CostTracker(DEFAULT_SESSION_NAME, costs_dir=folder)
        _default = (os.getpid(), tracker)
        if not _default_atexit:
            # Registered after the first tracker exists, so that it runs before the
            # trackers' own exit finalizers (atexit runs last-registered first).
            atexit.register(_close_default_tracker)
            _default_atexit = True
    if old is not None and old[0] == os.getpid():
        _close_quietly(old[1])
    return tracker


def _close_quietly(tracker: CostTracker) -> None:
    if not tracker.stats.api_calls:
        # Made for a call that then failed or was never made: no empty session in the
        # ledger. Its journal was never created, and its finalizer releases it.
        return
    try:
        tracker.close()
    except (ScenewrightError, OSError) as error:
        # Every call is in the session's journal; the next tracker folds it into the ledger.
        warnings.warn(
            f"Could not save the costs of session {tracker.session_name!r} ({error}). Its calls "
            "are kept in its journal and are added to the ledger by the next run.",
            ScenewrightWarning,
            stacklevel=3,
        )


def _close_default_tracker() -> None:
    global _default
    with _default_lock:
        old, _default = _default, None
    if old is not None and old[0] == os.getpid():
        _close_quietly(old[1])


def _save_default(tracker: CostTracker) -> None:
    # After each call, so that the ledger is right even if the process never exits cleanly.
    try:
        tracker.save_session()
    except (ScenewrightError, OSError) as error:
        warnings.warn(
            f"Could not update the cost ledger for session {tracker.session_name!r} ({error}). "
            "The call is kept in the session's journal and is added to the ledger by the next "
            "run.",
            ScenewrightWarning,
            stacklevel=4,
        )


def _check_tracker(cost_tracker: object) -> None:
    """Refuse, before anything is paid for, a tracker that could not record the call."""
    if not callable(getattr(cost_tracker, "add_api_call", None)):
        raise TypeError(
            "cost_tracker must be a scenewright CostTracker (an object with an add_api_call "
            f"method), not {type(cost_tracker).__name__}. Pass a CostTracker, or leave "
            f"cost_tracker out to record the call in the session {DEFAULT_SESSION_NAME!r}."
        )
    if getattr(cost_tracker, "closed", False) is True:
        name = getattr(cost_tracker, "session_name", None)
        session = f" (session {name!r})" if isinstance(name, str) else ""
        raise ValueError(
            f"cost_tracker{session} is closed, so it cannot record this call; nothing was "
            "sent. Start a new CostTracker, or call generate_* inside its `with` block."
        )


def _record(
    message: Message, model: str, cost_tracker: CostTrackerLike | None
) -> tuple[Decimal, str]:
    """Record the paid call; returns its cost and the session it is recorded in."""
    if cost_tracker is not None:
        try:
            cost = cost_tracker.add_api_call(
                usage=message.usage, model=model, response_id=message.id
            )
        except (TypeError, ValueError) as error:
            # Closed by another thread since the check, or a look-alike tracker that takes
            # other arguments: the call is paid for regardless, so it goes to the default.
            warnings.warn(
                f"The cost_tracker given could not record a paid call ({error}); it is "
                f"recorded in the session {DEFAULT_SESSION_NAME!r} instead.",
                ScenewrightWarning,
                stacklevel=4,
            )
        else:
            name = getattr(cost_tracker, "session_name", None)
            return cost, name if isinstance(name, str) else "the cost_tracker given"
    tracker = default_cost_tracker()
    cost = tracker.add_api_call(usage=message.usage, model=model, response_id=message.id)
    _save_default(tracker)
    return cost, tracker.session_name


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


def _as_set(url: object) -> str:
    # httpx percent-encodes what it cannot parse ("not%20a%20url/"); show it as typed.
    return unquote(str(url)).rstrip("/")


def _where(client: anthropic.Anthropic) -> str:
    url = client.base_url
    if not (url.scheme and url.host):
        # Not an address at all ("://" would say nothing): show what was set, cleaned.
        return repr(describe_base_url(_as_set(url)))
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
        configured = os.environ.get(BASE_URL_ENV)
        hint = (
            f" {BASE_URL_ENV} is set to {describe_base_url(configured)!r}: check it (it must "
            f"look like {DEFAULT_BASE_URL}), or unset it to use the real API."
            if configured
            else " Check your internet connection, proxy or firewall."
        )
        return ServiceUnavailableError(
            f"Could not connect to the Anthropic API at {where} ({retries}).{hint}"
        )
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
    if err.status_code == 402 or (err.api_message and "credit balance" in err.api_message.lower()):
        return ServiceUnavailableError(
            f"The Anthropic account has no credit left ({what}). Add credit at "
            "https://console.anthropic.com/settings/billing, or use --llm keyword."
        )
    return PromptError(
        f"The Anthropic API refused the request for model {model!r} ({what}); nothing was "
        "billed. If it says the prompt is too long, shorten the descriptions in the character "
        "sheet; otherwise check the model id given with --model, then run the same command "
        "again."
    )


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
    url = client.base_url
    if url.scheme not in ("http", "https") or not url.host:
        # Made while ANTHROPIC_BASE_URL held something that is not an address; every
        # request would fail with a connection error that does not say so.
        raise ConfigError(
            f"The Anthropic client's API address is {describe_base_url(_as_set(url))!r}, which "
            f"is not a web address (was {BASE_URL_ENV} set when it was made?). It must look "
            f"like {DEFAULT_BASE_URL}: fix or unset {BASE_URL_ENV} and make the client again."
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
    """Ask Claude for the SDXL prompt of ``sentence``; see ``prompt_generator.generate_prompt``.

    The call is recorded in ``cost_tracker``, or without one in ``default_cost_tracker()``.
    A closed tracker (``ValueError``), an object that is not a tracker (``TypeError``) and
    a cost folder that cannot be written (``LedgerError``) are refused before the request.
    """
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
    # The record must be possible before the call is paid for: a tracker that cannot take
    # it, or a cost folder that cannot be written, stops here with nothing sent.
    if cost_tracker is not None:
        _check_tracker(cost_tracker)
    else:
        default_cost_tracker()

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

    cost, session = _record(message, model, cost_tracker)

    if message.stop_reason == "refusal":
        # Its text ("I cannot help with that.") is no prompt: never returned, so never cached.
        raise EmptyReplyError(
            f"{model} declined to write a prompt (stop reason: refusal), so there is no "
            f"usable prompt for the sentence {_preview(sentence)!r}. The call was billed and "
            "is recorded in the cost session "
            f"{session!r}; nothing was kept for this sentence, so the next run asks again. "
            "Use --llm keyword for this text, or --llm compare to get the other methods' "
            "prompts for it."
        )
    prompt = clean_reply(reply_text(message))
    if not prompt:
        stop = f" (stop reason: {message.stop_reason})" if message.stop_reason else ""
        raise EmptyReplyError(
            f"{model} answered with no usable prompt{stop} for the sentence "
            f"{_preview(sentence)!r}. The call was billed and is recorded in the cost "
            f"session {session!r}. Run the same command again to retry it, or use "
            "--llm keyword for this text."
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
    text = " ".join(without_controls(sentence).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
