"""A fake Ollama server: real HTTP on 127.0.0.1, the real API's JSON and NDJSON, scripted replies.

Point the real ``ollama`` client at it the way a user points it at any Ollama::

    with FakeOllamaServer() as server:
        os.environ["OLLAMA_HOST"] = server.host
        server.reply("a lighthouse in a storm")        # the next chat or generate
        server.reply("", times=2)                      # two empty replies
        server.fail(500, "model requires more system memory (5.6 GiB) than is available")
        server.garbage(b"<html>502 Bad Gateway</html>")
        ...
        server.requests[-1].user_text                  # what the client sent

Endpoints
    ``GET /`` and ``HEAD /``: ``Ollama is running``.
    ``GET /api/version``: ``{"version": ...}``.
    ``GET /api/tags``: ``{"models": [...]}``, one entry per model in ``models``.
    ``POST /api/chat``: ``{"model", "messages", "stream", "options", "think", ...}``.
    ``POST /api/generate``: ``{"model", "prompt", "system", "stream", "options", "think", ...}``.
    ``think`` is accepted and recorded (``OllamaRequest.think``); like Ollama, the fake
    answers the same whatever it says, so a scripted ``thinking`` is sent regardless.

As in Ollama, ``stream`` defaults to true: the answer is ``application/x-ndjson`` sent
with chunked transfer encoding, one JSON object per line, each with a piece of the text
and ``"done": false``, then a last object with ``"done": true``, ``done_reason``, the
durations in nanoseconds, ``prompt_eval_count`` and ``eval_count``. With
``"stream": false`` the answer is that whole object as ``application/json``.

Checks, each answered with Ollama's error body ``{"error": "..."}``: a JSON body -> 400;
``model`` given -> 400 ``model is required``; the model pulled -> 404
``model 'X' not found``. A name without a tag means ``:latest``, as in Ollama. Only then
is the next scripted answer used; with none queued the reply is ``default_reply``.

Token counts, so tests can assert exact figures (``token_count`` is the Anthropic fake's
``ceil(len(text) / 4)``, at least 1):
    ``prompt_eval_count`` = ``token_count(system + every message content)`` for chat,
    ``token_count(system + prompt)`` for generate;
    ``eval_count`` = ``token_count(reply text)``.
A scripted reply may give either count, or ``None`` to leave it out, as Ollama does
when it reuses a cached prompt.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import EllipsisType
from typing import Any

from .anthropic_server import _Handler as _AnthropicHandler
from .anthropic_server import _Server, token_count

__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_REPLY",
    "FakeOllamaServer",
    "Garbage",
    "OllamaFailure",
    "OllamaReply",
    "OllamaRequest",
    "chat_prompt_text",
    "model_name",
]

DEFAULT_REPLY = "a robot standing in a vast factory hall, steel beams, detailed illustration"
DEFAULT_MODELS = ("llama3.2:latest", "qwen2.5:0.5b")
VERSION = "0.12.6"


def model_name(name: str) -> str:
    """``name`` as Ollama files it: with ``:latest`` when it has no tag."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def chat_prompt_text(body: Mapping[str, Any]) -> str:
    """The text the fake counts as the prompt: system and every message, or system and prompt."""
    if "messages" in body:
        return "".join(
            str(m.get("content") or "") for m in body.get("messages") or () if isinstance(m, dict)
        )
    return str(body.get("system") or "") + str(body.get("prompt") or "")


@dataclass
class OllamaReply:
    """A scripted successful answer."""

    text: str = DEFAULT_REPLY
    # ``...``: computed by the documented rule; None: left out; an int: sent as given.
    prompt_eval_count: int | EllipsisType | None = ...
    eval_count: int | EllipsisType | None = ...
    done_reason: str = "stop"
    thinking: str | None = None  # sent as message.thinking, as thinking models do
    delay_s: float = 0.0  # before the answer starts, e.g. to make a client time out
    chunk_delay_s: float = 0.0  # between streamed lines
    error_after: str | None = None  # a streamed {"error": ...} line after the text, no done


@dataclass
class OllamaFailure:
    """A scripted error answer: ``{"error": message}`` with ``status``."""

    status: int
    message: str = "an unknown error was encountered while running the model"
    delay_s: float = 0.0


@dataclass
class Garbage:
    """A scripted answer that is not Ollama's: ``body`` as it is, with ``content_type``."""

    body: bytes
    status: int = 200
    content_type: str = "application/json; charset=utf-8"


@dataclass
class OllamaRequest:
    """One request the server received, as it arrived."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    raw: bytes
    body: Any  # the parsed JSON, or None

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def stream(self) -> bool:
        return not isinstance(self.body, dict) or self.body.get("stream", True) is not False

    @property
    def think(self) -> bool | str | None:
        """The request's ``think``: False, True, a level such as "low", or None if absent."""
        think = self.body.get("think") if isinstance(self.body, dict) else None
        return think if isinstance(think, (bool, str)) else None

    @property
    def options(self) -> dict[str, Any]:
        options = self.body.get("options") if isinstance(self.body, dict) else None
        return dict(options or {})

    def _contents(self, role: str) -> list[str]:
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        return [
            str(m.get("content") or "")
            for m in messages or ()
            if isinstance(m, dict) and m.get("role") == role
        ]

    @property
    def system_text(self) -> str:
        if isinstance(self.body, dict) and "messages" not in self.body:
            return str(self.body.get("system") or "")
        return "\n".join(self._contents("system"))

    @property
    def user_text(self) -> str:
        if isinstance(self.body, dict) and "messages" not in self.body:
            return str(self.body.get("prompt") or "")
        return "\n".join(self._contents("user"))


@dataclass
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    lines: list[bytes] | None = None  # streamed with chunked encoding when set
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class FakeOllamaServer:
    """The fake Ollama on ``127.0.0.1`` at a free port, served from a background thread.

    Script it with ``reply()``, ``fail()`` and ``garbage()``; read what arrived in
    ``requests``. Use it as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(self, *, models: Iterable[str] = DEFAULT_MODELS) -> None:
        self._initial_models = tuple(models)
        self.models: list[str] = [model_name(m) for m in self._initial_models]
        self.default_reply = DEFAULT_REPLY
        self.requests: list[OllamaRequest] = []
        self._script: deque[tuple[OllamaReply | OllamaFailure | Garbage, int | None]] = deque()
        self._lock = threading.Lock()
        self._clock = itertools.count(1)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> FakeOllamaServer:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self  # type: ignore[assignment]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeOllamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake Ollama server is not running")
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        """What OLLAMA_HOST should be set to."""
        return f"http://127.0.0.1:{self.port}"

    # --- scripting ----------------------------------------------------------------

    def reply(
        self,
        text: str = DEFAULT_REPLY,
        *,
        prompt_eval_count: int | EllipsisType | None = ...,
        eval_count: int | EllipsisType | None = ...,
        done_reason: str = "stop",
        thinking: str | None = None,
        delay_s: float = 0.0,
        chunk_delay_s: float = 0.0,
        error_after: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Queue a successful answer for the next ``times`` generations (None: every one)."""
        item = OllamaReply(
            text,
            prompt_eval_count,
            eval_count,
            done_reason,
            thinking,
            delay_s,
            chunk_delay_s,
            error_after,
        )
        self._queue(item, times)

    def fail(
        self,
        status: int,
        message: str = OllamaFailure.message,
        *,
        delay_s: float = 0.0,
        times: int | None = 1,
    ) -> None:
        """Queue an error answer for the next ``times`` generations (None: every one)."""
        self._queue(OllamaFailure(status, message, delay_s), times)

    def garbage(
        self,
        body: bytes,
        *,
        status: int = 200,
        content_type: str = "application/json; charset=utf-8",
        times: int | None = 1,
    ) -> None:
        """Queue a body that is not Ollama's answer for the next ``times`` generations."""
        self._queue(Garbage(body, status, content_type), times)

    def _queue(self, item: OllamaReply | OllamaFailure | Garbage, times: int | None) -> None:
        if times is not None and times < 1:
            raise ValueError("times must be 1 or more, or None for every request")
        with self._lock:
            self._script.append((item, times))

    def clear(self) -> None:
        """Forget the script and the recorded requests."""
        with self._lock:
            self._script.clear()
            self.requests.clear()

    def reset(self) -> None:
        """Back to how it started: no script, no requests, the original models."""
        self.clear()
        self.models = [model_name(m) for m in self._initial_models]
        self.default_reply = DEFAULT_REPLY

    @property
    def pending(self) -> int:
        """Scripted answers not used yet (an endless one counts once)."""
        with self._lock:
            return len(self._script)

    def _next(self) -> OllamaReply | OllamaFailure | Garbage:
        with self._lock:
            if not self._script:
                return OllamaReply(self.default_reply)
            item, times = self._script[0]
            if times is not None:
                if times <= 1:
                    self._script.popleft()
                else:
                    self._script[0] = (item, times - 1)
            return item

    # --- reading what arrived ---------------------------------------------------------

    @property
    def generation_requests(self) -> list[OllamaRequest]:
        """The ``/api/chat`` and ``/api/generate`` requests, oldest first."""
        with self._lock:
            return [r for r in self.requests if r.path in ("/api/chat", "/api/generate")]

    def _record(self, request: OllamaRequest) -> None:
        with self._lock:
            self.requests.append(request)

    # --- answering -------------------------------------------------------------------

    def handle(self, request: OllamaRequest) -> _Answer:
        try:
            if request.path in ("/", "") and request.method in ("GET", "HEAD"):
                return _text(200, "Ollama is running")
            if request.path == "/api/version" and request.method == "GET":
                return _json(200, {"version": VERSION})
            if request.path == "/api/tags" and request.method == "GET":
                return _json(200, {"models": [_tag(name) for name in self.models]})
            if request.path in ("/api/chat", "/api/generate") and request.method == "POST":
                return self._generate(request)
            # Ollama's router answers an unknown route with a plain-text 404.
            return _text(404, "404 page not found")
        except _ApiError as exc:
            return _json(exc.status, {"error": exc.message})

    def _generate(self, request: OllamaRequest) -> _Answer:
        body = request.body
        if not isinstance(body, dict):
            raise _ApiError(400, "invalid character 'x' looking for beginning of value")
        model = body.get("model")
        if not model or not isinstance(model, str):
            raise _ApiError(400, "model is required")
        chat = request.path == "/api/chat"
        if chat:
            messages = body.get("messages")
            if messages is not None and not isinstance(messages, list):
                raise _ApiError(400, "json: cannot unmarshal messages")
        if model_name(model) not in self.models:
            raise _ApiError(404, f"model '{model}' not found")
        item = self._next()
        if isinstance(item, OllamaFailure):
            answer = _json(item.status, {"error": item.message})
            answer.delay_s = item.delay_s
            return answer
        if isinstance(item, Garbage):
            return _Answer(item.status, {"content-type": item.content_type}, item.body)
        return self._reply(item, body, model, chat=chat, stream=request.stream)

    def _reply(
        self, reply: OllamaReply, body: Mapping[str, Any], model: str, *, chat: bool, stream: bool
    ) -> _Answer:
        tick = next(self._clock)
        created = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        counts: dict[str, Any] = {}
        prompt_eval = reply.prompt_eval_count
        if prompt_eval is ...:
            prompt_eval = token_count(chat_prompt_text(body))
        evals = reply.eval_count
        if evals is ...:
            evals = token_count(reply.text)
        final: dict[str, Any] = {
            "model": model,
            "created_at": created,
            "done": True,
            "done_reason": reply.done_reason,
            # Fixed durations in nanoseconds, so tests can compare them.
            "total_duration": 250_000_000 + tick,
            "load_duration": 50_000_000,
        }
        if prompt_eval is not None:
            counts["prompt_eval_count"] = prompt_eval
            counts["prompt_eval_duration"] = 40_000_000
        if evals is not None:
            counts["eval_count"] = evals
            counts["eval_duration"] = 160_000_000

        def piece(text: str, thinking: str | None = None) -> dict[str, Any]:
            if chat:
                message: dict[str, Any] = {"role": "assistant", "content": text}
                if thinking is not None:
                    message["thinking"] = thinking
                return {"model": model, "created_at": created, "message": message}
            part: dict[str, Any] = {"model": model, "created_at": created, "response": text}
            if thinking is not None:
                part["thinking"] = thinking
            return part

        if not stream:
            whole = {**piece(reply.text, reply.thinking), **final, **counts}
            if not chat:
                whole["context"] = [1, 2, 3]
            answer = _json(200, whole)
            answer.delay_s = reply.delay_s
            return answer
        lines: list[dict[str, Any]] = []
        if reply.thinking is not None:
            lines.extend({**piece("", t), "done": False} for t in _chunks(reply.thinking))
        lines.extend({**piece(t), "done": False} for t in _chunks(reply.text) if t)
        if reply.error_after is not None:
            lines.append({"error": reply.error_after})
        else:
            last = {**piece(""), **final, **counts}
            if not chat:
                last["context"] = [1, 2, 3]
            lines.append(last)
        return _Answer(
            200,
            {"content-type": "application/x-ndjson"},
            lines=[json.dumps(line).encode("utf-8") + b"\n" for line in lines],
            delay_s=reply.delay_s,
            chunk_delay_s=reply.chunk_delay_s,
        )


def _chunks(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _tag(name: str) -> dict[str, Any]:
    family = name.split(":", 1)[0].rstrip("0123456789.")
    return {
        "name": name,
        "model": name,
        "modified_at": "2026-11-20T10:00:00.000000+00:00",
        "size": 2_019_393_189,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family or "llama",
            "families": [family or "llama"],
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
    }


def _json(status: int, payload: Any) -> _Answer:
    body = json.dumps(payload).encode("utf-8")
    return _Answer(status, {"content-type": "application/json; charset=utf-8"}, body)


def _text(status: int, text: str) -> _Answer:
    return _Answer(status, {"content-type": "text/plain; charset=utf-8"}, text.encode("utf-8"))


class _Handler(_AnthropicHandler):
    """The Anthropic fake's handler (keep-alive, TCP_NODELAY, tracked connections), answering
    as Ollama does, with chunked NDJSON for streams.
    """

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = OllamaRequest(
            method=self.command,
            path=self.path.split("?", 1)[0],
            headers={name.lower(): value for name, value in self.headers.items()},
            raw=raw,
            body=body,
        )
        fake: FakeOllamaServer = self.server.fake  # type: ignore[assignment]
        fake._record(request)
        answer = fake.handle(request)
        stopping = self.server.stopping
        if answer.delay_s:
            stopping.wait(answer.delay_s)
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.lines is None:
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)
                return
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for number, line in enumerate(answer.lines):
                if number and answer.chunk_delay_s:
                    stopping.wait(answer.chunk_delay_s)
                self.wfile.write(f"{len(line):X}\r\n".encode("ascii") + line + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up, e.g. on a timeout

    do_GET = _answer
    do_POST = _answer
    do_HEAD = _answer
