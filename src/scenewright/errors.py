"""Every error scenewright raises on purpose.

Each message says what went wrong and what to do about it, so the CLI can show
it as it is, with no traceback::

    ScenewrightError
    ├── ConfigError                  bad option, bad setting, missing file
    │   ├── MissingAPIKeyError       ANTHROPIC_API_KEY is not set
    │   ├── ChapterSelectionError    --chapters names nothing that exists
    │   └── MissingDependencyError   an optional extra (scenewright[images]) is not installed
    ├── PricingError
    │   └── UnknownModelError        no price for a model: never priced at $0
    ├── LedgerError
    │   ├── LedgerCorruptError       haiku_usage.json is not valid JSON or schema
    │   └── LedgerLockError          another process holds the ledger too long
    ├── NovelError                   the novel cannot be read or is empty
    ├── CharacterSheetError          the character sheet is malformed
    ├── RenderError                  an image could not be rendered (model, memory, device)
    ├── BudgetError                  a run or call would pass --budget or --max-total
    └── PromptError                  a prompt could not be generated
        ├── ModelNotFoundError       404: retired, misspelt or not pulled (Ollama)
        ├── AuthenticationError      401/403: the key was refused
        ├── RateLimitError           429/529 still failing after retries
        ├── ServiceError             5xx, timeouts, a reply cut short
        │   └── ServiceUnavailableError  cannot work at all: not running, unreachable,
        │                                not Ollama, no credit, out of memory, too slow
        └── EmptyReplyError          the model answered with no usable prompt, or refused

Warnings that do not stop a run are ``ScenewrightWarning`` (a ``UserWarning``);
the CLI prints them to stderr.

``ValueError`` (not a ``ScenewrightError``) is raised for programming mistakes
such as ``add_api_call(input_tokens=-1)``, as the design document's API implies.
"""

from __future__ import annotations


class ScenewrightError(Exception):
    """Base class: catch this to handle anything scenewright reports."""


class ConfigError(ScenewrightError):
    """A setting, option or input file is wrong."""


class MissingAPIKeyError(ConfigError):
    """The Haiku method needs ANTHROPIC_API_KEY."""


class ChapterSelectionError(ConfigError):
    """A --chapters selection is malformed or selects nothing."""


class MissingDependencyError(ConfigError):
    """An optional extra such as ``scenewright[images]`` is not installed."""


class PricingError(ScenewrightError):
    """A cost cannot be computed."""


class UnknownModelError(PricingError):
    """A model has no entry in the price table."""


class LedgerError(ScenewrightError):
    """The cost ledger cannot be read or written."""


class LedgerCorruptError(LedgerError):
    """The ledger file is not valid JSON or does not fit the schema."""


class LedgerLockError(LedgerError):
    """Another process held the ledger lock for too long."""


class NovelError(ScenewrightError):
    """The novel cannot be read, or has no text."""


class CharacterSheetError(ScenewrightError):
    """The character sheet cannot be read."""


class PromptError(ScenewrightError):
    """A prompt could not be generated."""


class ModelNotFoundError(PromptError):
    """The API answered 404 for the model: it is retired or misspelt, or not pulled into Ollama."""


class AuthenticationError(PromptError):
    """The API refused the key."""


class RateLimitError(PromptError):
    """Rate limited or overloaded, still, after the SDK's retries."""


class ServiceError(PromptError):
    """The API failed, timed out, or could not be reached."""


class ServiceUnavailableError(ServiceError):
    """The service cannot work at all for now: every further call would fail the same way.

    Its server is not running or cannot be reached (refused, no such host, https spoken
    to plain http), is not Ollama, has no credit left, has too little memory for the
    model, or is too slow to finish a prompt. A run comparing methods leaves such a
    method out for the rest of the run, where a failure for one sentence (a 400, a 500
    after retries, an empty reply) leaves only that sentence's cell empty.
    """


class EmptyReplyError(PromptError):
    """The model's reply held no usable prompt."""


class RenderError(ScenewrightError):
    """The SDXL model could not be loaded, or an image could not be rendered."""


class BudgetError(ScenewrightError):
    """A run, or its next paid call, could take the spend past ``--budget`` or ``--max-total``.

    Raised before the money is spent: what was already generated and recorded is kept.
    """


class ScenewrightWarning(UserWarning):
    """Something worth telling the user that does not stop the run."""
