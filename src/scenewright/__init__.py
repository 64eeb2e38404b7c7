"""scenewright: illustrate a novel scene by scene, and account for every cent.

The names here are the public API; everything else is reachable through its module
(``scenewright.config``, ``scenewright.pricing``, ...)::

    from scenewright import CostTracker, illustrate, IllustrateOptions

    result = illustrate("novel.txt", IllustrateOptions(chapters="1", llm="haiku"))
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scenewright.characters import CharacterSheet, load_characters
    from scenewright.cost_tracker import CostTracker, get_total_cost, print_cost_history
    from scenewright.errors import (
        ConfigError,
        LedgerError,
        NovelError,
        PricingError,
        PromptError,
        ScenewrightError,
        ScenewrightWarning,
    )
    from scenewright.novel import Chapter, Novel, parse_novel, read_novel, select_chapters
    from scenewright.pipeline import IllustrateOptions, IllustrationRun, RunResult, illustrate
    from scenewright.pricing import cost_of
    from scenewright.prompt_generator import (
        PromptResult,
        SceneContext,
        generate_prompt,
        generate_prompt_with_haiku,
    )
    from scenewright.render import RenderSettings
    from scenewright.usage import Usage, format_usd

# Each public name and the module it lives in. Imported on first use, so that
# `import scenewright` stays quick and `python -m scenewright.cost_tracker` runs cleanly.
_EXPORTS = {
    "Chapter": "scenewright.novel",
    "CharacterSheet": "scenewright.characters",
    "ConfigError": "scenewright.errors",
    "CostTracker": "scenewright.cost_tracker",
    "IllustrateOptions": "scenewright.pipeline",
    "IllustrationRun": "scenewright.pipeline",
    "LedgerError": "scenewright.errors",
    "Novel": "scenewright.novel",
    "NovelError": "scenewright.errors",
    "PricingError": "scenewright.errors",
    "PromptError": "scenewright.errors",
    "PromptResult": "scenewright.prompt_generator",
    "RenderSettings": "scenewright.render",
    "RunResult": "scenewright.pipeline",
    "SceneContext": "scenewright.prompt_generator",
    "ScenewrightError": "scenewright.errors",
    "ScenewrightWarning": "scenewright.errors",
    "Usage": "scenewright.usage",
    "cost_of": "scenewright.pricing",
    "format_usd": "scenewright.usage",
    "generate_prompt": "scenewright.prompt_generator",
    "generate_prompt_with_haiku": "scenewright.prompt_generator",
    "get_total_cost": "scenewright.cost_tracker",
    "illustrate": "scenewright.pipeline",
    "load_characters": "scenewright.characters",
    "parse_novel": "scenewright.novel",
    "print_cost_history": "scenewright.cost_tracker",
    "read_novel": "scenewright.novel",
    "select_chapters": "scenewright.novel",
}

__all__ = [
    "Chapter",
    "CharacterSheet",
    "ConfigError",
    "CostTracker",
    "IllustrateOptions",
    "IllustrationRun",
    "LedgerError",
    "Novel",
    "NovelError",
    "PricingError",
    "PromptError",
    "PromptResult",
    "RenderSettings",
    "RunResult",
    "SceneContext",
    "ScenewrightError",
    "ScenewrightWarning",
    "Usage",
    "__version__",
    "cost_of",
    "format_usd",
    "generate_prompt",
    "generate_prompt_with_haiku",
    "get_total_cost",
    "illustrate",
    "load_characters",
    "parse_novel",
    "print_cost_history",
    "read_novel",
    "select_chapters",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'scenewright' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
