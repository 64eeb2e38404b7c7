"""Ollama prompts: one chat request per sentence to a model running on this machine.

The client is the official ``ollama`` package. The server is ``$OLLAMA_HOST``, as for
the ``ollama`` command itself, else ``config.DEFAULT_OLLAMA_HOST``; the model is
``--ollama-model``, else ``config.DEFAULT_OLLAMA_MODEL``. The model gets the same
instructions, scene context and character sheet as Claude (``prompt_generator``).

Tokens are Ollama's own counts, ``prompt_eval_count`` and ``eval_count`` of the reply's
last streamed line; a count Ollama leaves out (it omits ``prompt_eval_count`` when it
reuses a cached prompt) counts 0. Local tokens cost nothing, so nothing here touches the
Claude ledger.

The reply is streamed, so that a slow machine that is still writing is not cut off by a
read timeout, while ``config.OLLAMA_TIMEOUT_SECONDS`` still bounds the whole request. An
empty or unreadable reply is asked for again ``config.OLLAMA_EMPTY_REPLY_RETRIES`` times
before the sentence fails with ``EmptyReplyError``. Everything else that goes wrong
becomes a ``PromptError`` subclass whose message says what to do.
"""

from __future__ import annotations

import atexit
import importlib
import inspect
import ipaddress
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING

import httpx

from scenewright import config
from scenewright.errors import (
    ConfigError,
    EmptyReplyError,
    ModelNotFoundError,
    PromptError,
    ServiceError,
    ServiceUnavailableError,
)
from scenewright.prompt_generator import (
    SYSTEM_INSTRUCTIONS,
    PromptResult,
    SceneContext,
    build_user_message,
    clean_reply,
    ollama_model_name,
    without_controls,
)
from scenewright.usage import Usage

__all__ = [
    "DOWNLOAD_URL",
    "check_ollama",
    "clean_ollama_reply",
    "generate_ollama_prompt",
    "make_client",
    "ollama_base_url",
    "shared_client",
]

DOWNLOAD_URL = "https://ollama.com/download"


# --- Where the server is ----------------------------------------------------------------


def ollama_base_url() -> str:
    """The server's URL from ``$OLLAMA_HOST``, read by the ollama client's own rules.

    ``127.0.0.1``, ``:11435``, ``host:port`` and full URLs all work; a bare host gets
    port 11434. The user and password of a URL are dropped, so the result can be shown.
    """
    raw = (os.environ.get(config.OLLAMA_HOST_ENV) or "").strip() or config.DEFAULT_OLLAMA_HOST
    scheme, separator, rest = raw.partition("://")
    port = 11434
    if not separator:
        scheme, rest = "http", raw
    elif scheme.lower() == "http":
        port = 80
    elif scheme.lower() == "https":
        port = 443
    else:
        raise ConfigError(
            f"{config.OLLAMA_HOST_ENV} is {raw!r}, which is not an http or https address. "
            f"Set it to where Ollama listens, e.g. {config.DEFAULT_OLLAMA_HOST}, or unset it."
        )
    try:
        split = urllib.parse.urlsplit(f"{scheme.lower()}://{rest}")
    except ValueError as error:  # "Invalid IPv6 URL", a bracketed host that is no address
        raise _bad_host(raw, f"which is not an address ({error})") from None
    try:
        port = split.port or port
    except ValueError:
        raise _bad_host(raw, "whose port is not a number from 0 to 65535") from None
    host = split.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    path = split.path.strip("/")
    return f"{scheme.lower()}://{host}:{port}" + (f"/{path}" if path else "")


def _bad_host(raw: str, why: str) -> ConfigError:
    return ConfigError(
        f"{config.OLLAMA_HOST_ENV} is {raw!r}, {why}. Set it to where Ollama listens, e.g. "
        f"{config.DEFAULT_OLLAMA_HOST}, or unset it."
    )


def _import_ollama() -> ModuleType:
    """The ``ollama`` package, imported only after ``$OLLAMA_HOST`` is known to be good.

    Importing it makes a default client from ``$OLLAMA_HOST``, and a host it cannot read
    raises ``ValueError`` ("Port out of range 0-65535") from the import itself: so this
    module cannot be imported with such a host, and says why, with the fix.
    """
    ollama_base_url()
    try:
        return importlib.import_module("ollama")
    except ValueError as error:  # a host the client reads otherwise than ollama_base_url
        raw = os.environ.get(config.OLLAMA_HOST_ENV, "")
        raise _bad_host(raw, f"which the ollama client cannot read ({error})") from None


if TYPE_CHECKING:
    import ollama
else:
    ollama = _import_ollama()


def _host_of(base_url: str) -> str:
    return (urllib.parse.urlsplit(base_url).hostname or "").strip("[]")


def _is_loopback(base_url: str) -> bool:
    host = _host_of(base_url)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- The client ----------------------------------------------------------------------------


def make_client() -> ollama.Client:
    """A new client for ``ollama_base_url()``, with the timeouts from config."""
    base_url = ollama_base_url()
    timeout = httpx.Timeout(
        config.OLLAMA_TIMEOUT_SECONDS, connect=config.OLLAMA_CONNECT_TIMEOUT_SECONDS
    )
    # A proxy from HTTP_PROXY cannot reach this machine's own Ollama, and sending local
    # requests to it fails with an error about the proxy; so loopback goes direct.
    return ollama.Client(host=base_url, timeout=timeout, trust_env=not _is_loopback(base_url))


_shared: tuple[tuple[str, ...], ollama.Client] | None = None
_shared_lock = threading.Lock()


def _fingerprint() -> tuple[str, ...]:
    return (
        ollama_base_url(),
        str(config.OLLAMA_TIMEOUT_SECONDS),
        str(config.OLLAMA_CONNECT_TIMEOUT_SECONDS),
        os.environ.get("OLLAMA_API_KEY") or "",  # the client sends it as a bearer token
        str(os.getpid()),
    )


def shared_client() -> ollama.Client:
    """The client calls use when none is passed: made once per process and reused while
    ``OLLAMA_HOST`` and the timeouts are unchanged, so every sentence of a novel rides on
    the same kept-alive connection.
    """
    global _shared
    fingerprint = _fingerprint()
    with _shared_lock:
        if _shared is not None and _shared[0] == fingerprint:
            return _shared[1]
        old, _shared = _shared, (fingerprint, make_client())
        client = _shared[1]
    if old is not None:
        old[1].close()  # type: ignore[no-untyped-call]  # ollama leaves close() unannotated
    return client


@atexit.register
def _close_shared_client() -> None:
    global _shared
    with _shared_lock:
        old, _shared = _shared, None
    if old is not None:
        old[1].close()  # type: ignore[no-untyped-call]  # ollama leaves close() unannotated


def _where(client: ollama.Client | None) -> str:
    # A client passed in may have been made for another host: show its own address,
    # scheme, host and port only, never a user or password.
    url = getattr(getattr(client, "_client", None), "base_url", None)
    if isinstance(url, httpx.URL) and url.host:
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://{url.host}{port}"
    return ollama_base_url()


# --- Errors, with their fixes ------------------------------------------------------------


def _model_name(model: str | None) -> str:
    return ollama_model_name(model)


def _tagged(name: str) -> str:
    """``name`` as Ollama lists it: ``llama3.2`` is ``llama3.2:latest``."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def _not_running(where: str, model: str, detail: str) -> ServiceUnavailableError:
    hint = ""
    if _host_of(where) in ("0.0.0.0", "::"):  # noqa: S104 - compared, not bound
        hint = (
            f" {config.OLLAMA_HOST_ENV} is {_host_of(where)}, an address for a server to "
            "listen on, not one to connect to: set it to 127.0.0.1:11434 in this terminal."
        )
    elif os.environ.get(config.OLLAMA_HOST_ENV):
        hint = (
            f" {config.OLLAMA_HOST_ENV} is set: check that Ollama listens there, or unset it "
            f"to use {config.DEFAULT_OLLAMA_HOST}."
        )
    return ServiceUnavailableError(
        f"Ollama is not running at {where} ({detail}).{hint}\n"
        "Start it: open the Ollama app (Windows, macOS), or run `ollama serve` in another "
        "terminal (Linux, or anywhere).\n"
        f"Not installed? Get it from {DOWNLOAD_URL}, then run `ollama pull {model}`.\n"
        "Or use --llm keyword, which runs with nothing installed."
    )


def _not_pulled(where: str, model: str, available: list[str] | None = None) -> ModelNotFoundError:
    if available:
        shown = ", ".join(available[:8]) + (", ..." if len(available) > 8 else "")
        have = f" (it has: {shown})"
    elif available is not None:
        have = " (it has no models yet)"
    else:
        have = ""
    return ModelNotFoundError(
        f"Ollama at {where} does not have the model {model!r}. Download it with:\n"
        f"  ollama pull {model}\n"
        f"or choose a model it has with --ollama-model{have}."
    )


def _not_ollama(where: str, detail: str) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"The server at {where} does not answer like Ollama ({detail}). If another program "
        f"uses that address, set {config.OLLAMA_HOST_ENV} to where Ollama listens, or unset "
        f"it to use {config.DEFAULT_OLLAMA_HOST}. If it is Ollama, update it ({DOWNLOAD_URL})."
    )


def _shortened(text: str, limit: int = 300) -> str:
    text = " ".join(without_controls(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _causes(err: BaseException) -> list[BaseException]:
    """``err`` and what lies under it, outermost first. The ollama client raises its own
    ConnectionError ``from None``, which hides httpx's error but keeps it as the context.
    """
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _connection_failed(err: BaseException, where: str, model: str) -> ServiceUnavailableError:
    """Why a connection to ``where`` failed, told apart: no such host, https spoken to a
    plain http server, an untrusted certificate, or nothing listening.
    """
    chain = _causes(err)
    innermost = chain[-1]
    detail = (
        innermost.strerror
        if isinstance(innermost, OSError) and innermost.strerror
        else str(innermost) or type(innermost).__name__
    )
    url = urllib.parse.urlsplit(where)
    host = _host_of(where)
    if any(isinstance(cause, socket.gaierror) for cause in chain):
        return ServiceUnavailableError(
            f"Cannot reach Ollama at {where}: host not found ({detail}): {host!r} is not a "
            f"name this computer can look up. Please check {config.OLLAMA_HOST_ENV} (it is "
            f"{os.environ.get(config.OLLAMA_HOST_ENV, '')!r}) for a typing mistake, or unset "
            f"it to use {config.DEFAULT_OLLAMA_HOST}."
        )
    if any(isinstance(cause, ssl.SSLCertVerificationError) for cause in chain):
        return ServiceUnavailableError(
            f"Cannot reach Ollama at {where}: the server's https certificate is not trusted "
            f"here ({detail}). Add its certificate authority to this computer's trusted ones, "
            f"or, if Ollama runs on this computer, set {config.OLLAMA_HOST_ENV} to its plain "
            f"http address, e.g. {config.DEFAULT_OLLAMA_HOST}."
        )
    if any(isinstance(cause, ssl.SSLError) for cause in chain):
        port = f":{url.port}" if url.port else ""
        return ServiceUnavailableError(
            f"Cannot reach Ollama at {where}: an https connection failed ({detail}), as the "
            "server there speaks plain http (Ollama itself serves http, not https). Please "
            f"set {config.OLLAMA_HOST_ENV} to http://{url.hostname}{port}, or to the https "
            "address of a proxy in front of Ollama."
        )
    reason = "no answer to the connection" if isinstance(err, httpx.ConnectTimeout) else detail
    return _not_running(where, model, reason.lower() if reason[:1].isupper() else reason)


def _timed_out(where: str, model: str) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"Ollama at {where} did not finish a prompt with {model!r} within "
        f"{config.OLLAMA_TIMEOUT_SECONDS:g} seconds. The first request loads the model, and a "
        "computer without a suitable GPU is slow: try a smaller model with --ollama-model "
        "(e.g. `ollama pull qwen2.5:0.5b`), close other programs, or use --llm keyword. "
        "Prompts already written are kept: run the same command again to continue."
    )


def _translate(err: Exception, where: str, model: str) -> PromptError:
    """The scenewright error, with its fix, for what the client or HTTP raised."""
    if isinstance(err, ollama.ResponseError):
        detail = err.error.strip() if isinstance(err.error, str) else str(err.error)
        status = f"{err.status_code} " if err.status_code > 0 else ""
        if "not found" in detail.lower() and "model" in detail.lower():
            return _not_pulled(where, model)  # "model 'x' not found", Ollama's own words
        if err.status_code in (404, 405, 501) or detail.startswith("<"):
            # A route or method it does not know, or a web page: not Ollama (whose errors
            # are JSON), or one too old for /api/chat.
            return _not_ollama(where, f"it answered {status}to /api/chat")
        detail = _shortened(detail)
        if "memory" in detail.lower():
            return ServiceUnavailableError(
                f"Ollama at {where} cannot run {model!r}: {detail}. Choose a smaller model "
                "with --ollama-model (e.g. `ollama pull qwen2.5:0.5b`), close other "
                "programs, or use --llm keyword."
            )
        if err.status_code >= 500 or err.status_code < 0:
            return ServiceError(
                f"Ollama at {where} failed while running {model!r} ({status}{detail}). "
                "Check the Ollama app or the terminal running `ollama serve` for the reason, "
                "then run the same command again."
            )
        return PromptError(
            f"Ollama at {where} refused the request for {model!r} ({status}{detail}). "
            "Check the model name given with --ollama-model, or update Ollama "
            f"({DOWNLOAD_URL})."
        )
    if isinstance(err, (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout)):
        return _connection_failed(err, where, model)
    if isinstance(err, httpx.TimeoutException):
        return _timed_out(where, model)
    if isinstance(err, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return ServiceError(
            f"Ollama at {where} closed the connection in the middle of a reply from "
            f"{model!r}. It may have crashed or run out of memory: check the Ollama app or "
            "the terminal running `ollama serve`, then run the same command again."
        )
    return ServiceError(f"Could not talk to Ollama at {where} ({err}). Run the same command again.")


# Errors of the client and of HTTP that mean the request did not succeed; garbage in the
# reply (bad JSON, wrong fields) is ValueError, handled apart.
_CLIENT_ERRORS = (ollama.ResponseError, ConnectionError, httpx.HTTPError)


# --- Checking that the method can run ----------------------------------------------------


def check_ollama(model: str | None = None, *, client: ollama.Client | None = None) -> None:
    """Raise, with the fix, unless Ollama answers and has ``model``; costs one local request."""
    model = _model_name(model)
    active = shared_client() if client is None else client
    where = _where(active)
    try:
        listing = active.list()
    except ollama.ResponseError as err:
        if err.status_code in (400, 404, 405):
            # Every Ollama lists its models at /api/tags: this is another program (a web
            # server answering 404, a proxy refusing plain http with 400).
            raise _not_ollama(where, f"it answered {err.status_code} to /api/tags") from None
        raise _translate(err, where, model) from None
    except httpx.RemoteProtocolError:
        # An https server hangs up on a plain http request without a word.
        raise _not_ollama(
            where,
            "it closed the connection without an answer; if it speaks only https, start "
            f"{config.OLLAMA_HOST_ENV} with https://",
        ) from None
    except _CLIENT_ERRORS as err:
        raise _translate(err, where, model) from None
    except ValueError:
        raise _not_ollama(where, "its answer to /api/tags is not Ollama's JSON") from None
    names = [m.model for m in listing.models if m.model]
    if _tagged(model) not in {_tagged(name) for name in names}:
        raise _not_pulled(where, model, names)


# --- Writing a prompt --------------------------------------------------------------------

# What thinking models (qwen3, deepseek-r1) write before the answer when the server does
# not split it out, closed or cut off by the token limit.
_THINKING = re.compile(r"<think(?:ing)?>.*?(?:</think(?:ing)?>|\Z)", re.DOTALL | re.IGNORECASE)
# Chat-template control tokens a badly packaged model leaks into its text.
_CONTROL_TOKEN = re.compile(r"<\|[^|<>\s]{1,40}\|>")
# A prompt has at least one word of two or more letters in it.
_WORD = re.compile(r"[^\W\d_]{2,}")


def clean_ollama_reply(text: str) -> str:
    """The prompt in a local model's reply, or ``""`` when there is none.

    Thinking blocks and control tokens go first, then everything ``clean_reply`` removes.
    A reply with no word in it (only punctuation, digits or symbols) counts as none.
    """
    text = _CONTROL_TOKEN.sub(" ", _THINKING.sub(" ", text))
    prompt = clean_reply(text)
    return prompt if _WORD.search(prompt) else ""


class _Unreadable(Exception):
    """The reply was not Ollama's JSON, or had none of its fields."""


# Thinking models (qwen3, deepseek-r1) think before they answer, and may spend every one of
# num_predict's tokens doing so: the answer is empty. think=False asks the server not to
# (Ollama 0.9 and later; older servers ignore it, and models that cannot think accept it).
# Clients before ollama 0.5 have no such argument, so it is sent only where they do.
_CHAT_TAKES_THINK = "think" in inspect.signature(ollama.Client.chat).parameters


def _chat(
    client: ollama.Client, model: str, message: str, deadline: float
) -> tuple[str, Usage, str | None]:
    """One streamed chat request: the reply's text, Ollama's token counts, and why it
    ended (``done_reason``: ``stop``, or ``length`` when num_predict ran out).
    """
    extra: dict[str, bool] = {"think": False} if _CHAT_TAKES_THINK else {}
    # Typed loosely for the optional think=False; the call is the streaming overload.
    chat: Callable[..., Iterator[ollama.ChatResponse]] = client.chat
    stream = chat(
        model=model,
        messages=[
            {"role": "system", "content": SYSTEM_INSTRUCTIONS},
            {"role": "user", "content": message},
        ],
        stream=True,
        options={"num_predict": config.OLLAMA_MAX_OUTPUT_TOKENS},
        **extra,
    )
    pieces: list[str] = []
    prompt_tokens = output_tokens = 0
    done_reason: str | None = None
    try:
        for part in stream:
            pieces.append(part.message.content or "")
            if part.done:
                # Missing counts are 0: Ollama omits prompt_eval_count for a cached prompt.
                prompt_tokens = part.prompt_eval_count or 0
                output_tokens = part.eval_count or 0
                done_reason = part.done_reason
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("the whole reply took too long")
    except ValueError as err:  # json.JSONDecodeError, pydantic.ValidationError
        raise _Unreadable(str(err).splitlines()[0] if str(err) else type(err).__name__) from err
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # frees the connection when the loop stopped early
    usage = Usage(input_tokens=prompt_tokens, output_tokens=output_tokens)
    return "".join(pieces), usage, done_reason


def generate_ollama_prompt(
    sentence: str,
    *,
    context: SceneContext | None = None,
    characters: Mapping[str, str] | None = None,
    model: str | None = None,
    client: ollama.Client | None = None,
) -> PromptResult:
    """Ask the local model for the SDXL prompt of ``sentence``; see ``generate_prompt``.

    The result's usage adds up every attempt's tokens, and its duration covers them all.
    """
    model = _model_name(model)
    if not sentence.strip():
        raise PromptError("There is nothing to illustrate: the sentence is empty.")
    message = build_user_message(sentence, context, characters)
    active = shared_client() if client is None else client
    where = _where(active)

    started = time.perf_counter()
    usage = Usage()
    problems: list[str] = []
    for _attempt in range(1 + max(0, config.OLLAMA_EMPTY_REPLY_RETRIES)):
        deadline = time.monotonic() + config.OLLAMA_TIMEOUT_SECONDS
        try:
            text, call_usage, done_reason = _chat(active, model, message, deadline)
        except _Unreadable as err:
            problems.append(f"a reply that is not Ollama's JSON ({err})")
            continue
        except _CLIENT_ERRORS as err:
            raise _translate(err, where, model) from None
        usage = usage + call_usage
        prompt = clean_ollama_reply(text)
        if prompt:
            return PromptResult(
                prompt=prompt,
                method="ollama",
                model=model,
                usage=usage,
                cost_usd=Decimal(0),  # local tokens cost nothing
                duration_s=time.perf_counter() - started,
            )
        problem = "an empty reply" if not text.strip() else "a reply with no prompt in it"
        if done_reason == "length":
            problem += (
                f" after using all {config.OLLAMA_MAX_OUTPUT_TOKENS} tokens it may write "
                "(done_reason 'length')"
            )
        problems.append(problem)
    tries = len(problems)
    hint = ""
    if any("done_reason 'length'" in problem for problem in problems):
        hint = (
            " A thinking model (such as qwen3 or deepseek-r1) can spend all of them thinking, "
            "and this Ollama may be too old to turn thinking off: choose a model that does not "
            f"think with --ollama-model, or update Ollama ({DOWNLOAD_URL})."
        )
    raise EmptyReplyError(
        f"{model} (Ollama at {where}) gave {_said(problems)} for the sentence "
        f"{_preview(sentence)!r}, {tries} time{'s' if tries != 1 else ''}.{hint} Run the same "
        "command again to retry it, choose another model with --ollama-model, or use "
        "--llm keyword for this text."
    )


def _said(problems: list[str]) -> str:
    unique = list(dict.fromkeys(problems))
    return " and then ".join(unique)


def _preview(sentence: str, limit: int = 80) -> str:
    text = " ".join(without_controls(sentence).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
