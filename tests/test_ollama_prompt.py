"""The Ollama method: the real ``ollama`` client over HTTP against the fake Ollama server."""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import ollama
import pytest

from fakes.anthropic_server import token_count
from fakes.ollama_server import DEFAULT_REPLY, FakeOllamaServer, chat_prompt_text
from scenewright import config
from scenewright.errors import (
    ConfigError,
    EmptyReplyError,
    ModelNotFoundError,
    PromptError,
    ServiceError,
)
from scenewright.ollama_prompt import (
    check_ollama,
    clean_ollama_reply,
    generate_ollama_prompt,
    ollama_base_url,
    shared_client,
)
from scenewright.prompt_generator import (
    SYSTEM_INSTRUCTIONS,
    SceneContext,
    build_user_message,
    check_method,
    generate_prompt,
)

SENTENCE = "The robot stood in the factory."
CHARACTERS = {"Mara Quill": "a young woman with short copper-red hair and a green oilskin coat"}
CONTEXT = SceneContext(
    chapter_title="I. The Works",
    before=("Mara Quill pushed open the iron door.",),
    after=("Sparks fell from the rafters.",),
)


def test_prompt_with_the_haikus_instructions_context_and_sheet(
    fake_ollama: FakeOllamaServer,
) -> None:
    result = generate_prompt(
        SENTENCE, method="ollama", context=CONTEXT, characters=CHARACTERS, model="llama3.2"
    )
    assert result.prompt == DEFAULT_REPLY
    assert (result.method, result.model, result.cost_usd) == ("ollama", "llama3.2", Decimal(0))
    [request] = fake_ollama.generation_requests
    assert request.path == "/api/chat"
    assert request.stream is True
    assert request.model == "llama3.2"
    # The same words Claude gets, scene context and character sheet included.
    assert request.system_text == SYSTEM_INSTRUCTIONS
    assert request.user_text == build_user_message(SENTENCE, CONTEXT, CHARACTERS)
    assert "copper-red hair" in request.user_text
    assert "Sparks fell from the rafters." in request.user_text
    assert request.options["num_predict"] == config.OLLAMA_MAX_OUTPUT_TOKENS
    # Tokens are Ollama's prompt_eval_count and eval_count, by the fake's documented rule.
    assert result.usage.input_tokens == token_count(chat_prompt_text(request.body))
    assert result.usage.output_tokens == token_count(DEFAULT_REPLY)
    assert result.duration_s > 0


def test_default_model_and_missing_counts_are_zero(fake_ollama: FakeOllamaServer) -> None:
    # Ollama leaves prompt_eval_count out when it reuses a cached prompt.
    fake_ollama.reply("a lone robot", prompt_eval_count=None, eval_count=None)
    result = generate_ollama_prompt(SENTENCE)
    assert result.model == config.DEFAULT_OLLAMA_MODEL
    assert (result.usage.input_tokens, result.usage.output_tokens) == (0, 0)
    assert fake_ollama.generation_requests[0].model == config.DEFAULT_OLLAMA_MODEL


def test_server_not_running_says_how_to_start_it(closed_port: int) -> None:
    started = time.perf_counter()
    with pytest.raises(ServiceError) as caught:
        generate_ollama_prompt(SENTENCE)
    message = str(caught.value)
    assert f"Ollama is not running at http://127.0.0.1:{closed_port}" in message
    assert "ollama serve" in message
    assert "https://ollama.com/download" in message
    assert "ollama pull llama3.2" in message
    assert "--llm keyword" in message
    assert time.perf_counter() - started < 5  # refused at once, no waiting on retries
    with pytest.raises(ServiceError, match="not running"):
        check_method("ollama")


def test_a_listen_address_in_ollama_host_is_explained(
    monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"0.0.0.0:{closed_port}")
    with pytest.raises(ServiceError) as caught:
        check_ollama()
    assert "set it to 127.0.0.1:11434" in str(caught.value)


class _QuietFileServer(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def not_ollama(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`python -m http.server` on 127.0.0.1, with OLLAMA_HOST pointing at it."""
    handler = functools.partial(_QuietFileServer, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("OLLAMA_HOST", host)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_server_that_is_not_ollama_is_not_asked_to_pull(not_ollama: str) -> None:
    for attempt in (check_ollama, lambda: generate_ollama_prompt(SENTENCE)):
        with pytest.raises(ServiceError) as caught:
            attempt()
        message = str(caught.value)
        assert f"The server at {not_ollama} does not answer like Ollama" in message
        assert "OLLAMA_HOST" in message
        assert "ollama pull" not in message
        assert "does not have the model" not in message


def test_a_host_that_cannot_be_found_is_not_called_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://no-such-host.invalid:11434")
    with pytest.raises(ServiceError) as caught:
        check_ollama()
    message = str(caught.value)
    assert "host not found" in message
    assert "'no-such-host.invalid'" in message
    assert "check OLLAMA_HOST" in message
    assert "refused" not in message


def test_https_to_a_plain_http_server_says_so(
    fake_ollama: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"https://127.0.0.1:{fake_ollama.port}")
    for attempt in (check_ollama, lambda: generate_ollama_prompt(SENTENCE)):
        with pytest.raises(ServiceError) as caught:
            attempt()
        message = str(caught.value)
        assert "speaks plain http" in message
        assert f"set OLLAMA_HOST to http://127.0.0.1:{fake_ollama.port}" in message
        assert "refused" not in message


def test_model_not_pulled_says_ollama_pull(fake_ollama: FakeOllamaServer) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        check_ollama("mistral")
    message = str(caught.value)
    assert "ollama pull mistral" in message
    assert "llama3.2:latest" in message  # what it has instead
    assert not fake_ollama.generation_requests
    # The server's own 404, as when the model is removed between the check and the call.
    with pytest.raises(ModelNotFoundError, match="ollama pull phi3"):
        generate_ollama_prompt(SENTENCE, model="phi3")
    [request] = fake_ollama.generation_requests
    assert request.model == "phi3"


def test_check_accepts_a_name_without_its_tag(fake_ollama: FakeOllamaServer) -> None:
    check_ollama("llama3.2")
    check_ollama("llama3.2:latest")
    check_ollama("qwen2.5:0.5b")
    with pytest.raises(ModelNotFoundError):
        check_ollama("qwen2.5")  # that is qwen2.5:latest, which is not there
    with pytest.raises(ConfigError, match="empty"):
        check_ollama("  ")


def test_timeout_is_a_clear_error(
    fake_ollama: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "OLLAMA_TIMEOUT_SECONDS", 0.2)
    fake_ollama.reply(delay_s=1.0)
    with pytest.raises(ServiceError) as caught:
        generate_ollama_prompt(SENTENCE)
    assert "did not finish a prompt with 'llama3.2' within 0.2 seconds" in str(caught.value)
    assert "--ollama-model" in str(caught.value)
    # A model still writing, token by token, is stopped at the same limit in all.
    fake_ollama.reply("a b c d e f g h i j k l m n o p q r s t u v w x y z" * 3, chunk_delay_s=0.05)
    with pytest.raises(ServiceError, match=r"within 0\.2 seconds"):
        generate_ollama_prompt(SENTENCE)


def test_empty_reply_is_retried_once(fake_ollama: FakeOllamaServer) -> None:
    fake_ollama.reply("   ")
    fake_ollama.reply("a robot in a factory")
    result = generate_ollama_prompt(SENTENCE)
    assert result.prompt == "a robot in a factory"
    requests = fake_ollama.generation_requests
    assert len(requests) == 2
    # Both attempts ran on the machine: their tokens add up.
    assert result.usage.output_tokens == token_count("   ") + token_count(result.prompt)
    assert result.usage.input_tokens == 2 * token_count(chat_prompt_text(requests[0].body))


def test_empty_twice_fails_that_sentence_clearly(fake_ollama: FakeOllamaServer) -> None:
    fake_ollama.reply("", times=2)
    with pytest.raises(EmptyReplyError) as caught:
        generate_ollama_prompt(SENTENCE)
    message = str(caught.value)
    assert SENTENCE in message
    assert "2 times" in message
    assert "--llm keyword" in message
    assert len(fake_ollama.generation_requests) == 2


def test_garbage_reply_is_retried_then_fails(fake_ollama: FakeOllamaServer) -> None:
    fake_ollama.garbage(b"<html><body>502 Bad Gateway</body></html>")
    result = generate_ollama_prompt(SENTENCE)
    assert result.prompt == DEFAULT_REPLY
    fake_ollama.garbage(b'{"unexpected": true}\n', times=2)
    with pytest.raises(EmptyReplyError, match="not Ollama's JSON"):
        generate_ollama_prompt(SENTENCE)
    fake_ollama.reply("!!! ... ???", times=2)  # no word in it
    with pytest.raises(EmptyReplyError, match="no prompt in it"):
        generate_ollama_prompt(SENTENCE)


def test_errors_from_a_running_server(fake_ollama: FakeOllamaServer) -> None:
    fake_ollama.fail(500, "model requires more system memory (5.6 GiB) than is available (2 GiB)")
    with pytest.raises(ServiceError, match="smaller model"):
        generate_ollama_prompt(SENTENCE)
    fake_ollama.reply("a robot", error_after="llama runner process has terminated: exit status 2")
    with pytest.raises(ServiceError, match="llama runner process has terminated"):
        generate_ollama_prompt(SENTENCE)
    fake_ollama.fail(400, "invalid options")
    with pytest.raises(PromptError, match="invalid options"):
        generate_ollama_prompt(SENTENCE)


@pytest.mark.parametrize(
    ("reply", "prompt"),
    [
        ("a robot, factory", "a robot, factory"),
        ("<think>The user wants a prompt.</think>\n\na robot, factory", "a robot, factory"),
        ("<think>still thinking when the token limit came", ""),
        ("Prompt: a robot, factory<|eot_id|>", "a robot, factory"),
        ('"a robot, factory"', "a robot, factory"),
        ("1. 2. 3.", ""),
        ("", ""),
    ],
)
def test_clean_ollama_reply(reply: str, prompt: str) -> None:
    assert clean_ollama_reply(reply) == prompt


def test_control_characters_in_a_local_reply_are_dropped(fake_ollama: FakeOllamaServer) -> None:
    fake_ollama.reply("\x1b[1ma robot\x1b[0m\x08 in a\x00 factory\x1b[K")
    assert generate_ollama_prompt(SENTENCE).prompt == "a robot in a factory"
    fake_ollama.reply("\x1b[31m\x07\x1b[0m", times=2)  # only escapes: no prompt at all
    with pytest.raises(EmptyReplyError):
        generate_ollama_prompt(SENTENCE)


def test_thinking_is_turned_off(fake_ollama: FakeOllamaServer) -> None:
    generate_ollama_prompt(SENTENCE)
    [request] = fake_ollama.generation_requests
    assert request.think is False
    assert request.body["think"] is False


def test_a_reply_spent_on_thinking_says_so(fake_ollama: FakeOllamaServer) -> None:
    # A thinking model that ignores think=false can spend every token on its thoughts.
    fake_ollama.reply("", thinking="Let me consider the robot. " * 20, done_reason="length",
                      times=2)  # fmt: skip
    with pytest.raises(EmptyReplyError) as caught:
        generate_ollama_prompt(SENTENCE)
    message = str(caught.value)
    assert "done_reason 'length'" in message
    assert f"all {config.OLLAMA_MAX_OUTPUT_TOKENS} tokens" in message
    assert "thinking model" in message and "--ollama-model" in message
    # An empty reply that ended normally does not blame the limit.
    fake_ollama.reply("", times=2)
    with pytest.raises(EmptyReplyError) as caught:
        generate_ollama_prompt(SENTENCE)
    assert "length" not in str(caught.value)


def test_thinking_field_is_not_the_prompt(fake_ollama: FakeOllamaServer) -> None:
    fake_ollama.reply("a robot in a factory", thinking="I should describe the robot first.")
    assert generate_ollama_prompt(SENTENCE).prompt == "a robot in a factory"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("127.0.0.1", "http://127.0.0.1:11434"),
        (":11500", "http://127.0.0.1:11500"),
        ("gpu-box:11434", "http://gpu-box:11434"),
        ("http://gpu-box", "http://gpu-box:80"),
        ("https://user:secret@ollama.example.com/base/", "https://ollama.example.com:443/base"),
        ("[::1]:11434", "http://[::1]:11434"),
    ],
)
def test_ollama_host_is_read_like_the_client_reads_it(
    monkeypatch: pytest.MonkeyPatch, host: str | None, url: str
) -> None:
    if host is None:
        monkeypatch.delenv("OLLAMA_HOST", raising=False)
    else:
        monkeypatch.setenv("OLLAMA_HOST", host)
    assert ollama_base_url() == url


@pytest.mark.parametrize("host", ["ftp://box", "box:99999", "http://[::1", "http://[zz]"])
def test_a_bad_ollama_host_is_a_config_error(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    monkeypatch.setenv("OLLAMA_HOST", host)
    with pytest.raises(ConfigError, match="OLLAMA_HOST"):
        ollama_base_url()


def test_one_client_per_process_until_the_host_changes(
    fake_ollama: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    first = shared_client()
    generate_ollama_prompt(SENTENCE)
    assert shared_client() is first
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port}")
    assert shared_client() is not first


def test_the_fake_speaks_the_real_api_to_the_real_client(fake_ollama: FakeOllamaServer) -> None:
    client = ollama.Client(host=fake_ollama.host)
    try:
        listed = client.list()
        assert [m.model for m in listed.models] == ["llama3.2:latest", "qwen2.5:0.5b"]
        messages = [{"role": "user", "content": "Describe a robot."}]
        whole = client.chat(model="llama3.2", messages=messages, stream=False)
        assert whole.message.content == DEFAULT_REPLY
        assert whole.done is True and whole.eval_count == token_count(DEFAULT_REPLY)
        parts = list(client.chat(model="llama3.2", messages=messages, stream=True))
        assert "".join(p.message.content or "" for p in parts) == DEFAULT_REPLY
        assert [p.done for p in parts].count(True) == 1 and parts[-1].done
        assert parts[-1].prompt_eval_count == token_count("Describe a robot.")
        generated = client.generate(model="llama3.2", prompt="A robot.", system="Be brief.")
        assert generated.response == DEFAULT_REPLY
        assert generated.prompt_eval_count == token_count("Be brief.A robot.")
        streamed = list(client.generate(model="llama3.2", prompt="A robot.", stream=True))
        assert "".join(p.response for p in streamed) == DEFAULT_REPLY
        with pytest.raises(ollama.ResponseError) as caught:
            client.chat(model="mistral", messages=messages)
        assert caught.value.status_code == 404
        assert caught.value.error == "model 'mistral' not found"
    finally:
        client.close()
    paths = [r.path for r in fake_ollama.requests]
    assert paths == ["/api/tags", *["/api/chat"] * 2, *["/api/generate"] * 2, "/api/chat"]
