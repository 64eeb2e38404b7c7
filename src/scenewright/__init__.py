"""scenewright: illustrate a novel scene by scene, and account for every cent.

The names here are the public API; everything else is reachable through its module
(``scenewright.config``, ``scenewright.pricing``, ...)::

    from scenewright import CostTracker, illustrate, IllustrateOptions

    result = illustrate("novel.txt", IllustrateOptions(chapters="1", llm="haiku"))
"""

from __future__ import annotations

__version__ = "0.1.0"

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
from scenewright.usage import Cost, Usage, format_usd

__all__ = [
    "Chapter",
    "CharacterSheet",
    "ConfigError",
    "Cost",
    "CostTracker",
    "IllustrateOptions",
    "IllustrationRun",
    "LedgerError",
    "Novel",
    "NovelError",
    "PricingError",
    "PromptError",
    "PromptResult",
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
