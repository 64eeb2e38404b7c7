"""Every default and every price in one place.

Prices live here, and only here: when Anthropic changes a price, edit this file.
A change affects calls made after it; calls already in the ledger keep the cost
they were recorded with.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

# --- Claude models and prices ------------------------------------------------

# The Haiku model used when none is given. Claude Haiku 3.5, the design
# document's model, was retired on 2026-02-19 and now answers 404.
DEFAULT_HAIKU_MODEL = "claude-haiku-5-5"

# USD per million input tokens for DEFAULT_HAIKU_MODEL (the design document's knob).
HAIKU_INPUT_COST_PER_MILLION = Decimal("0.10")
# USD per million output tokens for DEFAULT_HAIKU_MODEL (the design document's knob).
HAIKU_OUTPUT_COST_PER_MILLION = Decimal("0.50")

# Identifies this price table in every recorded call; bump it when prices change.
PRICE_TABLE_VERSION = "2026-12-01"

# USD per million tokens, per model: (input, output, date the entry was checked).
# Old models stay so that old ledgers and the design document's estimates reproduce.
MODEL_PRICES: dict[str, tuple[Decimal, Decimal, str]] = {
    DEFAULT_HAIKU_MODEL: (
        HAIKU_INPUT_COST_PER_MILLION,
        HAIKU_OUTPUT_COST_PER_MILLION,
        "2026-12-01",
    ),
    "claude-haiku-4-5": (Decimal("1.00"), Decimal("5.00"), "2025-10-15"),
    "claude-haiku-4-5-20251001": (Decimal("1.00"), Decimal("5.00"), "2025-10-15"),
    "claude-3-5-haiku-20241022": (Decimal("0.80"), Decimal("4.00"), "2024-11-04"),
    "claude-3-5-haiku-latest": (Decimal("0.80"), Decimal("4.00"), "2024-11-04"),
    "claude-3-haiku-20240307": (Decimal("0.25"), Decimal("1.25"), "2024-03-13"),
}

# --- Calling Claude -----------------------------------------------------------

# Largest SDXL prompt we ask Haiku for; a CLIP window is 77 tokens, so 200 is ample.
HAIKU_MAX_OUTPUT_TOKENS = 200
# Seconds before one Messages API request gives up.
HAIKU_TIMEOUT_SECONDS = 60.0
# Retries the anthropic SDK makes on 429, 529 and connection errors before we report.
HAIKU_MAX_RETRIES = 3

# --- Writing prompts ----------------------------------------------------------

# Estimated CLIP tokens a keyword prompt may use: CLIP reads 75 plus start/end, the rest is margin.
KEYWORD_PROMPT_TOKEN_BUDGET = 60
# Style and quality tags that end every keyword prompt and that Haiku is asked to end with.
PROMPT_STYLE_TAGS = ("detailed illustration", "cinematic lighting", "high quality")
# Largest character sheet read, in bytes; a real one is a few kilobytes.
CHARACTER_SHEET_MAX_BYTES = 1_000_000

# --- Reading novels -----------------------------------------------------------

# Sentences before and after the current one that go into its scene context.
CONTEXT_SENTENCES_BEFORE = 2
# Sentences after the current one that go into its scene context.
CONTEXT_SENTENCES_AFTER = 1

# --- Files and folders --------------------------------------------------------

# Environment variable that moves the cost-state folder away from ./.costs.
COSTS_DIR_ENV = "SCENEWRIGHT_COSTS_DIR"
# Name of the cost-state folder, created in the current directory.
COSTS_DIR_NAME = ".costs"
# The cumulative ledger file inside the cost-state folder (the design document's name).
LEDGER_FILENAME = "haiku_usage.json"
# Seconds to wait for another scenewright process to release the ledger lock.
LEDGER_LOCK_TIMEOUT_SECONDS = 30.0
# Folder under the current directory that `illustrate` writes into when --out is not given.
DEFAULT_OUTPUT_DIR = "scenewright-out"


def costs_dir() -> Path:
    """The cost-state folder: $SCENEWRIGHT_COSTS_DIR, else ./.costs."""
    override = os.environ.get(COSTS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path.cwd() / COSTS_DIR_NAME


def ledger_path() -> Path:
    """The cumulative ledger: <costs dir>/haiku_usage.json."""
    return costs_dir() / LEDGER_FILENAME
