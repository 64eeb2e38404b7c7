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

# Prompts longer than this many tokens (uncached input + cache writes + cache reads) put the
# whole request for DEFAULT_HAIKU_MODEL in its long-context tier.
HAIKU_LONG_CONTEXT_THRESHOLD_TOKENS = 100_000
# USD per million input tokens for DEFAULT_HAIKU_MODEL in its long-context tier.
HAIKU_LONG_CONTEXT_INPUT_COST_PER_MILLION = Decimal("0.50")
# USD per million output tokens for DEFAULT_HAIKU_MODEL in its long-context tier.
HAIKU_LONG_CONTEXT_OUTPUT_COST_PER_MILLION = Decimal("2.50")

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
    "claude-sonnet-5-5": (Decimal("2.00"), Decimal("10.00"), "2026-12-03"),
    "claude-sonnet-5": (Decimal("2.00"), Decimal("10.00"), "2026-12-03"),
    "claude-sonnet-4-6": (Decimal("3.00"), Decimal("15.00"), "2026-03-21"),
    "claude-sonnet-4-5": (Decimal("3.00"), Decimal("15.00"), "2025-09-29"),
    "claude-sonnet-4-5-20250929": (Decimal("3.00"), Decimal("15.00"), "2025-09-29"),
    "claude-sonnet-4-0": (Decimal("3.00"), Decimal("15.00"), "2025-05-22"),
    "claude-sonnet-4-20250514": (Decimal("3.00"), Decimal("15.00"), "2025-05-22"),
    "claude-3-7-sonnet-20250219": (Decimal("3.00"), Decimal("15.00"), "2025-02-24"),
    "claude-opus-5-5": (Decimal("4.00"), Decimal("20.00"), "2026-12-03"),
    "claude-opus-5": (Decimal("5.00"), Decimal("25.00"), "2026-12-03"),
    "claude-opus-4-6": (Decimal("5.00"), Decimal("25.00"), "2026-03-21"),
    "claude-opus-4-5": (Decimal("5.00"), Decimal("25.00"), "2025-11-24"),
    "claude-opus-4-5-20251101": (Decimal("5.00"), Decimal("25.00"), "2025-11-24"),
    "claude-opus-4-1": (Decimal("15.00"), Decimal("75.00"), "2025-08-05"),
    "claude-opus-4-1-20250805": (Decimal("15.00"), Decimal("75.00"), "2025-08-05"),
    "claude-opus-4-0": (Decimal("15.00"), Decimal("75.00"), "2025-05-22"),
    "claude-opus-4-20250514": (Decimal("15.00"), Decimal("75.00"), "2025-05-22"),
}

# Prompt-caching prices as multiples of a model's input price; CACHE_PRICES lists the
# models that differ.
CACHE_WRITE_5M_MULTIPLIER = Decimal("1.25")
# A 1-hour cache write costs this multiple of the input price.
CACHE_WRITE_1H_MULTIPLIER = Decimal("2")
# A cache read (hit or refresh) costs this multiple of the input price.
CACHE_READ_MULTIPLIER = Decimal("0.1")
# The Batch API bills every rate (input, output, cache) at this multiple.
BATCH_MULTIPLIER = Decimal("0.5")

# USD per million tokens for models whose cache prices are not the multiples above:
# (5-minute cache write, 1-hour cache write, cache read).
CACHE_PRICES: dict[str, tuple[Decimal, Decimal, Decimal]] = {
    "claude-opus-5-5": (Decimal("5.00"), Decimal("8.00"), Decimal("0.20")),
    # Cache reads cut from $0.20 to $0.10 on 2026-10-07 (0.05x input).
    "claude-sonnet-5-5": (Decimal("2.50"), Decimal("4.00"), Decimal("0.10")),
    "claude-3-haiku-20240307": (Decimal("0.30"), Decimal("0.50"), Decimal("0.03")),
}

# Long-context tiers: (prompt-token threshold, input, output USD per million). A request whose
# prompt is over the threshold is billed at these rates for all its tokens, and its cache rates
# scale by the same factor as its input rate. Models not listed have one flat price.
LONG_CONTEXT_PRICES: dict[str, tuple[int, Decimal, Decimal]] = {
    DEFAULT_HAIKU_MODEL: (
        HAIKU_LONG_CONTEXT_THRESHOLD_TOKENS,
        HAIKU_LONG_CONTEXT_INPUT_COST_PER_MILLION,
        HAIKU_LONG_CONTEXT_OUTPUT_COST_PER_MILLION,
    ),
    "claude-sonnet-4-5": (200_000, Decimal("6.00"), Decimal("22.50")),
    "claude-sonnet-4-5-20250929": (200_000, Decimal("6.00"), Decimal("22.50")),
    "claude-sonnet-4-0": (200_000, Decimal("6.00"), Decimal("22.50")),
    "claude-sonnet-4-20250514": (200_000, Decimal("6.00"), Decimal("22.50")),
}

# --- Calling Claude -----------------------------------------------------------

# Largest SDXL prompt we ask Haiku for; a CLIP window is 77 tokens, so 200 is ample.
HAIKU_MAX_OUTPUT_TOKENS = 200
# Seconds before one Messages API request gives up.
HAIKU_TIMEOUT_SECONDS = 60.0
# Retries the anthropic SDK makes on 429, 529 and connection errors before we report.
HAIKU_MAX_RETRIES = 3

# --- Calling a local model through Ollama -------------------------------------

# The Ollama model used when --ollama-model is not given: Llama 3.2 3B is a 2 GB download
# that runs on an ordinary laptop without a GPU and follows the prompt rules well enough.
DEFAULT_OLLAMA_MODEL = "llama3.2"
# Environment variable naming the Ollama server, as the ollama command itself reads it.
OLLAMA_HOST_ENV = "OLLAMA_HOST"
# Where Ollama listens when OLLAMA_HOST is not set.
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
# Seconds one Ollama request may take in all. Generous: the first request loads the model
# into memory, and a laptop CPU writes a few tokens a second.
OLLAMA_TIMEOUT_SECONDS = 300.0
# Seconds to wait for the connection itself; a server that is running answers at once.
OLLAMA_CONNECT_TIMEOUT_SECONDS = 5.0
# Largest prompt we let a local model write (Ollama's num_predict), as for Haiku.
OLLAMA_MAX_OUTPUT_TOKENS = 200
# Further attempts after an empty or unreadable Ollama reply, before that sentence fails.
OLLAMA_EMPTY_REPLY_RETRIES = 1

# --- Estimates and budgets ----------------------------------------------------

# Output tokens a Haiku prompt typically takes: the design document's 80-120, at its 100.
# Estimates use it; budget checks use HAIKU_MAX_OUTPUT_TOKENS, the most a call can bill.
HAIKU_TYPICAL_OUTPUT_TOKENS = 100
# Input tokens per prompt that `scenewright estimate --sentences N` assumes when
# --input-tokens is not given: the design document's 500-600, at its 550.
ESTIMATE_TYPICAL_INPUT_TOKENS = 550
# The offline token approximation (no key, or --offline): one token per this many ASCII
# characters, one per other character. Claude's tokenizers average nearer 3.5 to 4 ASCII
# characters a token, so this errs high, as an estimate that guards a budget should.
APPROX_ASCII_CHARS_PER_TOKEN = 3
# Tokens the offline approximation adds to each request for its framing (roles, turns).
APPROX_REQUEST_OVERHEAD_TOKENS = 10
# Token-counting requests sent at once by `scenewright estimate`: the endpoint is free but
# rate limited, and the SDK retries what it refuses.
TOKEN_COUNT_WORKERS = 4
# A run warns once when its spend reaches this share of its budget.
BUDGET_WARNING_SHARE = Decimal("0.8")
# A run's budget in USD when --budget is not given; None means no budget. The environment
# variable BUDGET_ENV, when set, overrides it.
DEFAULT_BUDGET_USD: Decimal | None = None
# Environment variable holding a default --budget, e.g. "0.50".
BUDGET_ENV = "SCENEWRIGHT_BUDGET_USD"
# The all-time ledger total in USD that no run may take the ledger past when --max-total is
# not given; None means no limit. The environment variable MAX_TOTAL_ENV overrides it.
DEFAULT_MAX_TOTAL_USD: Decimal | None = None
# Environment variable holding a default --max-total, e.g. "20".
MAX_TOTAL_ENV = "SCENEWRIGHT_MAX_TOTAL_USD"

# --- Comparing methods --------------------------------------------------------

# The sentence `scenewright compare` tries when none is given (the design document's).
DEFAULT_COMPARE_SENTENCE = "The robot stood in the factory."
# The ledger session `scenewright compare` records Claude's cost in (the document's script).
COMPARE_SESSION_NAME = "test_prompt_comparison"

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

# Environment variable that, when set, shows the full traceback of an unexpected error.
DEBUG_ENV = "SCENEWRIGHT_DEBUG"
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
    # Blank counts as unset, and surrounding spaces are dropped: `set VAR= ` on Windows
    # would otherwise put the ledger in a folder named by spaces.
    override = (os.environ.get(COSTS_DIR_ENV) or "").strip()
    if override:
        return Path(override).expanduser()
    return Path.cwd() / COSTS_DIR_NAME


def ledger_path() -> Path:
    """The cumulative ledger: <costs dir>/haiku_usage.json."""
    return costs_dir() / LEDGER_FILENAME


# --- Splitting novels ---------------------------------------------------------

# Largest file read_novel accepts; the longest novels on Project Gutenberg are under 6 MB.
MAX_NOVEL_BYTES = 16 * 1024 * 1024
# A repeated heading with under this share of its longest twin's words is a contents entry.
DUPLICATE_HEADING_MAX_SHARE = 0.25


# --- Rendering images (the optional extra scenewright[images]) -----------------

# The SDXL model rendered with when --sdxl-model is not given (a Hugging Face hub id).
DEFAULT_SDXL_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
# Denoising steps: diffusers' StableDiffusionXLPipeline default.
DEFAULT_SDXL_STEPS = 50
# Classifier-free guidance scale: diffusers' StableDiffusionXLPipeline default.
DEFAULT_SDXL_GUIDANCE = 5.0
# Image width in pixels: SDXL base's native size (its UNet's sample size times 8).
DEFAULT_SDXL_WIDTH = 1024
# Image height in pixels: SDXL base's native size.
DEFAULT_SDXL_HEIGHT = 1024
# Base seed that every image's seed is derived from, with its chapter and sentence.
DEFAULT_RENDER_SEED = 42
# Images rendered together in one call; more is faster on a big GPU and needs more memory.
DEFAULT_RENDER_BATCH_SIZE = 1
# Width and height must be multiples of this: the VAE's 8x downsampling.
SDXL_SIZE_MULTIPLE = 8
# The sizes SDXL was trained at (width, height), from the SDXL paper's aspect-ratio buckets;
# other sizes work but tend to frame badly (cut-off heads, duplicated subjects).
SDXL_SIZE_BUCKETS: tuple[tuple[int, int], ...] = (
    (512, 2048), (512, 1984), (512, 1920), (512, 1856), (576, 1792), (576, 1728),
    (576, 1664), (640, 1600), (640, 1536), (704, 1472), (704, 1408), (704, 1344),
    (768, 1344), (768, 1280), (832, 1216), (832, 1152), (896, 1152), (896, 1088),
    (960, 1088), (960, 1024), (1024, 1024), (1024, 960), (1088, 960), (1088, 896),
    (1152, 896), (1152, 832), (1216, 832), (1280, 768), (1344, 768), (1344, 704),
    (1408, 704), (1472, 704), (1536, 640), (1600, 640), (1664, 576), (1728, 576),
    (1792, 576), (1856, 512), (1920, 512), (1984, 512), (2048, 512),
)  # fmt: skip
# CLIP's text window in tokens, start and end tokens included; longer prompts are encoded
# in chunks of (window - 2) tokens, never cut.
CLIP_TOKEN_WINDOW = 77
# A chunk ends at the last comma within this many tokens of its end, so that a phrase is
# not split between two chunks.
CLIP_CHUNK_COMMA_LOOKBACK = 20
