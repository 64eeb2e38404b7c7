"""Fakes of the outside services scenewright talks to, speaking their real wire protocols."""

from .anthropic_server import (
    DEFAULT_API_KEY,
    Failure,
    FakeAnthropicServer,
    RecordedRequest,
    Reply,
    token_count,
)

__all__ = [
    "DEFAULT_API_KEY",
    "Failure",
    "FakeAnthropicServer",
    "RecordedRequest",
    "Reply",
    "token_count",
]
