"""A tiny Stable Diffusion XL pipeline with random weights, built here from nothing.

Every part is the real diffusers/transformers class that SDXL base uses (UNet with
``text_time`` conditioning, KL VAE, CLIP text encoder, CLIP text encoder with projection,
Euler scheduler), only with a few thousand parameters instead of 3.5 billion, so the
real render path runs on a CPU in a fraction of a second. Nothing is downloaded: the
CLIP tokenizers read a byte-level BPE vocabulary written here, with whole-word merges
for the words of the bundled sample story, so prompts come out about as many tokens
long as with the real CLIP vocabulary.

    python tests/fakes/tiny_sdxl.py OUT_DIR     # save one with save_pretrained

Imports torch and diffusers, so import this module only where they are installed.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
)

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "src" / "scenewright" / "data"

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
# CLIP's text window, as in the real SDXL text encoders.
MAX_LENGTH = 77
# Width of the tiny text encoders; the UNet's cross-attention sees both, concatenated.
TEXT_WIDTH = 32


@lru_cache(maxsize=1)
def _byte_chars() -> tuple[str, ...]:
    """GPT-2/CLIP's printable stand-in for each of the 256 bytes, in byte order."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    table: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return tuple(table[b] for b in range(256))


def _encode_word(word: str) -> str:
    chars = _byte_chars()
    return "".join(chars[b] for b in word.encode("utf-8"))


def sample_words() -> list[str]:
    """The words of the bundled sample story and character sheet, plus common prompt words."""
    text = " ".join(
        path.read_text(encoding="utf-8")
        for path in (SAMPLE_DATA / "sample_story.txt", SAMPLE_DATA / "sample_characters.yaml")
    )
    text += " detailed illustration cinematic lighting high quality scene of in at the a an"
    return sorted(set(re.findall(r"[^\W\d_]+", text.lower())))


def _bpe(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Byte-pair encoding as CLIP applies it: merge the best-ranked pair until none applies."""
    while len(symbols) > 1:
        pairs = [
            (ranks.get(pair, len(ranks)), i) for i, pair in enumerate(itertools.pairwise(symbols))
        ]
        rank, i = min(pairs)
        if rank == len(ranks):
            break
        symbols = [*symbols[:i], symbols[i] + symbols[i + 1], *symbols[i + 2 :]]
    return symbols


def write_clip_vocabulary(folder: Path, words: Iterable[str]) -> int:
    """Write vocab.json, merges.txt and tokenizer_config.json for a CLIP tokenizer.

    Every byte is a token on its own and at a word's end (``x</w>``), so any text
    tokenizes; each of ``words`` gets the merges that make it one token. Returns the
    vocabulary's size.
    """
    folder.mkdir(parents=True, exist_ok=True)
    chars = _byte_chars()
    vocab: dict[str, int] = {}
    for symbol in [*chars, *(c + "</w>" for c in chars)]:
        vocab.setdefault(symbol, len(vocab))
    ranks: dict[tuple[str, str], int] = {}
    for word in words:
        symbols = list(_encode_word(word))
        symbols[-1] += "</w>"
        # A merge added now ranks after every earlier one, so it cannot change how an
        # earlier word (already one token) is split: add merges until this word is one too.
        while len(symbols := _bpe(symbols, ranks)) > 1:
            ranks[(symbols[0], symbols[1])] = len(ranks)
            vocab.setdefault(symbols[0] + symbols[1], len(vocab))
    merges = [f"{a} {b}" for (a, b), _ in sorted(ranks.items(), key=lambda item: item[1])]
    # The special tokens come last, as in CLIP, whose end token has the highest id.
    vocab[BOS] = len(vocab)
    vocab[EOS] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8"
    )
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "CLIPTokenizer",
                "model_max_length": MAX_LENGTH,
                "bos_token": BOS,
                "eos_token": EOS,
                "pad_token": EOS,
                "unk_token": EOS,
            }
        ),
        encoding="utf-8",
    )
    return len(vocab)


def build_tiny_sdxl(folder: Path, *, seed: int = 0) -> StableDiffusionXLPipeline:
    """A random-weight SDXL pipeline whose tokenizer files live in ``folder / "vocab"``."""
    vocab_dir = folder / "vocab"
    vocab_size = write_clip_vocabulary(vocab_dir, sample_words())
    tokenizer = CLIPTokenizer.from_pretrained(str(vocab_dir))
    tokenizer_2 = CLIPTokenizer.from_pretrained(str(vocab_dir))
    torch.manual_seed(seed)
    text_config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=TEXT_WIDTH,
        intermediate_size=37,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=MAX_LENGTH,
        projection_dim=TEXT_WIDTH,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
    )
    text_encoder = CLIPTextModel(text_config)
    text_encoder_2 = CLIPTextModelWithProjection(text_config)
    addition_time_embed_dim = 8
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=addition_time_embed_dim,
        transformer_layers_per_block=(1, 1),
        # SDXL's added conditioning: six size/crop numbers, each embedded, plus the pooled text.
        projection_class_embeddings_input_dim=6 * addition_time_embed_dim + TEXT_WIDTH,
        cross_attention_dim=2 * TEXT_WIDTH,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=4,
        sample_size=64,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
    )


def save_tiny_sdxl(folder: Path, *, seed: int = 0) -> Path:
    """Build the tiny pipeline and ``save_pretrained`` it into ``folder / "pipeline"``."""
    pipe = build_tiny_sdxl(folder, seed=seed)
    target = folder / "pipeline"
    pipe.save_pretrained(str(target))
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python tests/fakes/tiny_sdxl.py OUT_DIR", file=sys.stderr)
        return 2
    target = save_tiny_sdxl(Path(args[0]))
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
