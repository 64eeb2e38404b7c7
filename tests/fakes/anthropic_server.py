"""A fake Anthropic Messages API: real HTTP on 127.0.0.1, real JSON shapes, scripted replies.

Point the real ``anthropic`` SDK at it the way a user points it at any endpoint::

    with FakeAnthropicServer() as server:
        os.environ["ANTHROPIC_BASE_URL"] = server.base_url
        os.environ["ANTHROPIC_API_KEY"] = server.api_key
        server.reply("a lighthouse in a storm", usage={"input_tokens": 500})
        server.fail(429)                     # the next request is rate limited
        ...
        server.requests[-1].system_text      # what the client sent

Endpoints
    ``POST /v1/messages``: a ``message`` reply, or server-sent events when the body has
    ``"stream": true`` (message_start, ping, content_block_start/delta/stop for every
    block, message_delta with the cumulative usage, message_stop).
    ``POST /v1/messages/count_tokens``: ``{"input_tokens": N}``; ``fail_count_tokens()``
    makes it fail after a number of answers. The script of ``reply()`` and ``fail()`` is for
    ``/v1/messages`` only.

Checks, in the API's order, each answered with the API's error body
``{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}``:
the key (``x-api-key``, or ``Authorization: Bearer``, which SDK 2.x sends) -> 401
``authentication_error``; ``anthropic-version`` -> 400; a JSON body with ``model``,
``max_tokens`` and ``messages`` -> 400 ``invalid_request_error``; a model in ``models``
-> 404 ``not_found_error`` (``message: "model: <id>"``), as for a retired model. An
alias such as ``claude-haiku-4-5`` answers with its dated snapshot as ``model``.
Only then is the next scripted reply or failure used; with none queued the reply is
``default_reply``.

Token counts, so tests can assert exact figures:
    ``input_tokens`` = ``token_count(all request text)``, where the request text is the
    system prompt and every text of every message, concatenated;
    ``output_tokens`` = ``token_count(thinking + text of the reply)``;
    ``token_count(text)`` = ``ceil(len(text) / 4)``, at least 1.
A scripted ``usage`` replaces any of these fields.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import socket
import socketserver
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_REPLY",
    "KNOWN_MODELS",
    "MODEL_SNAPSHOTS",
    "RETIRED_MODELS",
    "Failure",
    "FakeAnthropicServer",
    "RecordedRequest",
    "Reply",
    "request_text",
    "token_count",
]

# Shaped like a key, and too short to be mistaken for a real one by a secret scanner.
DEFAULT_API_KEY = "sk-ant-fake-test-key"
DEFAULT_REPLY = "an old stone lighthouse on a cliff at dusk, stormy sea, detailed illustration"

KNOWN_MODELS = frozenset(
    {
        "claude-haiku-5-5",
        "claude-haiku-4-5",
        "claude-haiku-4-5-20251001",
        "claude-3-haiku-20240307",
        "claude-sonnet-5-5",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
        "claude-opus-5-5",
        "claude-opus-4-5",
        "claude-opus-4-5-20251101",
    }
)
# An alias answers with the dated snapshot it points to in the reply's "model".
MODEL_SNAPSHOTS = {
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-opus-4-5": "claude-opus-4-5-20251101",
}
# Answer 404 like any unknown id; listed so a test can say which it means.
RETIRED_MODELS = frozenset(
    {"claude-3-5-haiku-20241022", "claude-3-5-haiku-latest", "claude-3-opus-20240229"}
)

# error.type for each status, as the API names them.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_MESSAGES = {
    401: "invalid x-api-key",
    402: "Your credit balance is too low to access the Anthropic API.",
    403: "Your API key does not have permission to use the specified resource.",
    413: "Request exceeds the maximum allowed number of bytes.",
    429: "This request would exceed the rate limit for your organization of 50 requests "
    "per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
    500: "Internal server error",
    504: "Request timed out",
    529: "Overloaded",
}


def token_count(text: str) -> int:
    """The fake's tokenizer: ``ceil(len(text) / 4)``, at least 1."""
    return max(1, math.ceil(len(text) / 4))


def _texts(content: Any) -> Iterator[str]:
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for block in content:
            if isinstance(block, Mapping) and isinstance(block.get("text"), str):
                yield block["text"]


def request_text(body: Mapping[str, Any]) -> str:
    """The system prompt and every message text of a request body, concatenated."""
    parts = list(_texts(body.get("system")))
    for message in body.get("messages") or ():
        if isinstance(message, Mapping):
            parts.extend(_texts(message.get("content")))
    return "".join(parts)


@dataclass
class Reply:
    """A scripted successful answer."""

    text: str = DEFAULT_REPLY
    thinking: str | None = None  # a thinking block before the text, as extended thinking gives
    usage: Mapping[str, Any] | None = None  # fields that replace the computed usage
    stop_reason: str = "end_turn"
    content: list[dict[str, Any]] | None = None  # raw content blocks, replacing text/thinking
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait before answering, e.g. to make a client time out


@dataclass
class Failure:
    """A scripted error answer."""

    status: int
    error_type: str | None = None  # default: the API's type for the status
    message: str | None = None  # default: the API's usual message
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class RecordedRequest:
    """One request the server received, as it arrived."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    raw: bytes
    body: Any  # the parsed JSON, or None when it was not JSON

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def system_text(self) -> str:
        system = self.body.get("system") if isinstance(self.body, dict) else None
        return "".join(_texts(system))

    @property
    def user_text(self) -> str:
        """Every text of every user message, joined by newlines."""
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        return "\n".join(
            text
            for message in messages or ()
            if isinstance(message, Mapping) and message.get("role") == "user"
            for text in _texts(message.get("content"))
        )

    @property
    def retry_count(self) -> int:
        """Which retry this was, from the SDK's ``x-stainless-retry-count`` header."""
        return int(self.headers.get("x-stainless-retry-count", "0"))


class _ApiError(Exception):
    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.failure = Failure(status, error_type, message)


class FakeAnthropicServer:
    """The fake API on ``127.0.0.1`` at a free port, served from a background thread.

    Script it with ``reply()`` and ``fail()``; read what arrived in ``requests``.
    Use it as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        models: frozenset[str] | set[str] = KNOWN_MODELS,
        retry_after_ms: int = 1,
    ) -> None:
        self._settings = (api_key, frozenset(models), retry_after_ms)
        self.api_key = api_key
        self.models = set(models)
        # Sent with every 429 and 529 as retry-after-ms, which the SDK prefers to
        # retry-after: 1 ms keeps its retries from sleeping for real in tests.
        self.retry_after_ms = retry_after_ms
        self.default_reply = DEFAULT_REPLY
        self.requests: list[RecordedRequest] = []
        self._script: deque[tuple[Reply | Failure, int | None]] = deque()
        # count_tokens: answers left before it fails with this failure (None: it never fails).
        self._count_failure: Failure | None = None
        self._count_answers_left = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> FakeAnthropicServer:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self
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
        httpd.server_close()  # joins the handler threads
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeAnthropicServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake Anthropic server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """What ANTHROPIC_BASE_URL should be set to."""
        return f"http://127.0.0.1:{self.port}"

    # --- scripting ----------------------------------------------------------------

    def reply(
        self,
        text: str = DEFAULT_REPLY,
        *,
        thinking: str | None = None,
        usage: Mapping[str, Any] | None = None,
        stop_reason: str = "end_turn",
        content: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        delay_s: float = 0.0,
        times: int | None = 1,
    ) -> None:
        """Queue a successful answer for the next ``times`` requests (None: every one)."""
        item = Reply(text, thinking, usage, stop_reason, content, dict(headers or {}), delay_s)
        self._queue(item, times)

    def fail(
        self,
        status: int,
        error_type: str | None = None,
        message: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        delay_s: float = 0.0,
        times: int | None = 1,
    ) -> None:
        """Queue an error answer for the next ``times`` requests (None: every one)."""
        self._queue(Failure(status, error_type, message, dict(headers or {}), delay_s), times)

    def _queue(self, item: Reply | Failure, times: int | None) -> None:
        if times is not None and times < 1:
            raise ValueError("times must be 1 or more, or None for every request")
        with self._lock:
            self._script.append((item, times))

    def fail_count_tokens(self, status: int, *, after: int = 0) -> None:
        """Answer ``after`` token-counting requests, then fail every later one with ``status``."""
        with self._lock:
            self._count_failure = Failure(status)
            self._count_answers_left = after

    def _count_fails(self) -> Failure | None:
        with self._lock:
            if self._count_failure is None:
                return None
            if self._count_answers_left > 0:
                self._count_answers_left -= 1
                return None
            return self._count_failure

    def clear(self) -> None:
        """Forget the script and the recorded requests."""
        with self._lock:
            self._script.clear()
            self._count_failure = None
            self.requests.clear()

    def reset(self) -> None:
        """Back to how it started: no script, no requests, the original key and models."""
        self.clear()
        self.api_key, models, self.retry_after_ms = self._settings
        self.models = set(models)
        self.default_reply = DEFAULT_REPLY

    @property
    def pending(self) -> int:
        """Scripted answers not used yet (an endless one counts once)."""
        with self._lock:
            return len(self._script)

    def _next(self) -> Reply | Failure:
        with self._lock:
            if not self._script:
                return Reply(self.default_reply)
            item, times = self._script[0]
            if times is not None:
                if times <= 1:
                    self._script.popleft()
                else:
                    self._script[0] = (item, times - 1)
            return item

    # --- reading what arrived ---------------------------------------------------------

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """The ``POST /v1/messages`` requests, oldest first."""
        with self._lock:
            return [r for r in self.requests if r.path == "/v1/messages"]

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self.requests:
                raise AssertionError("the fake Anthropic server received no request")
            return self.requests[-1]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):020d}"

    # --- answering -------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for ``request``."""
        request_id = self.new_id("req")
        try:
            if request.method != "POST" or request.path not in (
                "/v1/messages",
                "/v1/messages/count_tokens",
            ):
                raise _ApiError(404, f"Not found: {request.method} {request.path}")
            self._check_headers(request)
            body = self._check_body(request)
            if request.path == "/v1/messages/count_tokens":
                failure = self._count_fails()
                if failure is not None:
                    return self._error(failure, request_id)
                return _json(200, {"input_tokens": token_count(request_text(body))}, request_id)
            item = self._next()
            if isinstance(item, Failure):
                return self._error(item, request_id)
            if item.delay_s and self._httpd is not None:
                self._httpd.stopping.wait(item.delay_s)
            message = self._message(item, body)
            if body.get("stream") is True:
                status, headers, data = _sse(message, request_id)
            else:
                status, headers, data = _json(200, message, request_id)
            headers.update(item.headers)
            return status, headers, data
        except _ApiError as exc:
            return self._error(exc.failure, request_id)

    def _check_headers(self, request: RecordedRequest) -> None:
        key = request.headers.get("x-api-key")
        authorization = request.headers.get("authorization", "")
        if key is None and authorization.lower().startswith("bearer "):
            key = authorization[len("bearer ") :]
        if not key:
            raise _ApiError(401, "x-api-key header is required")
        if key != self.api_key:
            raise _ApiError(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            raise _ApiError(400, "anthropic-version: header is required")

    def _check_body(self, request: RecordedRequest) -> dict[str, Any]:
        body = request.body
        if not isinstance(body, dict):
            raise _ApiError(400, "There was an issue with the request body: invalid JSON")
        counting = request.path.endswith("/count_tokens")
        required = ("model", "messages") if counting else ("model", "max_tokens", "messages")
        for name in required:
            if name not in body:
                raise _ApiError(400, f"{name}: Field required")
        if not counting:
            max_tokens = body["max_tokens"]
            if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
                raise _ApiError(400, "max_tokens: Input should be greater than or equal to 1")
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            raise _ApiError(400, "messages: at least one message is required")
        for number, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                raise _ApiError(
                    400, f"messages.{number}.role: Input should be 'user' or 'assistant'"
                )
            if "content" not in message:
                raise _ApiError(400, f"messages.{number}.content: Field required")
        if messages[0].get("role") != "user":
            raise _ApiError(400, 'messages: first message must use the "user" role')
        system = body.get("system")
        if system is not None and not isinstance(system, (str, list)):
            raise _ApiError(400, "system: Input should be a valid string or list")
        if body["model"] not in self.models:
            raise _ApiError(404, f"model: {body['model']}")
        return body

    def _error(self, failure: Failure, request_id: str) -> tuple[int, dict[str, str], bytes]:
        error = {
            "type": failure.error_type or ERROR_TYPES.get(failure.status, "api_error"),
            "message": failure.message or ERROR_MESSAGES.get(failure.status, "Error"),
        }
        status, headers, data = _json(
            failure.status, {"type": "error", "error": error, "request_id": request_id}, request_id
        )
        if failure.status in (429, 529):
            headers["retry-after"] = str(max(1, math.ceil(self.retry_after_ms / 1000)))
            headers["retry-after-ms"] = str(self.retry_after_ms)
        headers.update(failure.headers)
        if failure.delay_s and self._httpd is not None:
            self._httpd.stopping.wait(failure.delay_s)
        return status, headers, data

    def _message(self, reply: Reply, body: Mapping[str, Any]) -> dict[str, Any]:
        if reply.content is not None:
            content = reply.content
        else:
            content = []
            if reply.thinking is not None:
                content.append(
                    {
                        "type": "thinking",
                        "thinking": reply.thinking,
                        "signature": "EqQBCkgIARABGAIiQFakeSignatureForTestsOnly==",
                    }
                )
            content.append({"type": "text", "text": reply.text})
        output = "".join(str(block.get("thinking") or block.get("text") or "") for block in content)
        usage: dict[str, Any] = {
            "input_tokens": token_count(request_text(body)),
            "output_tokens": token_count(output),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "service_tier": "standard",
        }
        usage.update(reply.usage or {})
        return {
            "id": self.new_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": MODEL_SNAPSHOTS.get(body["model"], body["model"]),
            "content": content,
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }


def _json(status: int, payload: Any, request_id: str) -> tuple[int, dict[str, str], bytes]:
    headers = {"content-type": "application/json", "request-id": request_id}
    return status, headers, json.dumps(payload).encode("utf-8")


def _event(kind: str, data: Mapping[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"


def _chunks(text: str, size: int = 16) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _sse(message: Mapping[str, Any], request_id: str) -> tuple[int, dict[str, str], bytes]:
    """``message`` as the API streams it."""
    usage = message["usage"]
    start_usage = {**usage, "output_tokens": 1}
    start = {**message, "content": [], "stop_reason": None, "usage": start_usage}
    events = [_event("message_start", {"message": start}), _event("ping", {})]
    for index, block in enumerate(message["content"]):
        kind = block.get("type")
        if kind == "thinking":
            events.append(
                _event(
                    "content_block_start",
                    {"index": index, "content_block": {**block, "thinking": "", "signature": ""}},
                )
            )
            for piece in _chunks(block["thinking"]):
                delta = {"type": "thinking_delta", "thinking": piece}
                events.append(_event("content_block_delta", {"index": index, "delta": delta}))
            delta = {"type": "signature_delta", "signature": block["signature"]}
            events.append(_event("content_block_delta", {"index": index, "delta": delta}))
        elif kind == "text":
            events.append(
                _event(
                    "content_block_start", {"index": index, "content_block": {**block, "text": ""}}
                )
            )
            for piece in _chunks(block["text"]):
                delta = {"type": "text_delta", "text": piece}
                events.append(_event("content_block_delta", {"index": index, "delta": delta}))
        else:
            events.append(_event("content_block_start", {"index": index, "content_block": block}))
        events.append(_event("content_block_stop", {"index": index}))
    final_usage = {
        key: usage[key]
        for key in (
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        )
        if key in usage
    }
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    events.append(_event("message_delta", {"delta": delta, "usage": final_usage}))
    events.append(_event("message_stop", {}))
    headers = {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "request-id": request_id,
    }
    return 200, headers, "".join(events).encode("utf-8")


class _Server(ThreadingHTTPServer):
    """Knows its open connections, so that stopping never waits on an idle keep-alive."""

    daemon_threads = False  # server_close() joins them: no handler outlives a test
    fake: FakeAnthropicServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can take seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # the client may have closed it first
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    timeout = 120  # an idle connection does not hold a thread for ever

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; without this, Nagle's algorithm meets the
        # client's delayed ACK and every request waits about 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, open_=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(
            method=self.command,
            path=self.path.split("?", 1)[0],
            headers={name.lower(): value for name, value in self.headers.items()},
            raw=raw,
            body=body,
        )
        fake = self.server.fake
        fake._record(request)
        status, headers, data = fake.handle(request)
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up, e.g. on a timeout

    do_POST = _answer
    do_GET = _answer
