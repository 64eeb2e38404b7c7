"""The real renderer: diffusers' ``StableDiffusionXLPipeline``, imported only to render.

Prompts are encoded here rather than by the pipeline, because the pipeline cuts every
prompt at CLIP's 77-token window (and only logs that it did). A prompt is split into
windows of 75 tokens (ending at a comma where one is near), each window is encoded with
its own start and end tokens as SDXL's two CLIP encoders expect, and the hidden states
are joined, so the UNet attends to the whole prompt; the pooled embedding, which has room
for one window only, comes from the first. A prompt that fits one window is encoded
exactly as the pipeline would encode it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from scenewright import config
from scenewright.errors import RenderError
from scenewright.render import Encoding, ModelSource, RenderSettings, choose_device

if TYPE_CHECKING:
    from PIL.Image import Image

# The longest piece of a library's error message that goes into ours.
_ERROR_CHARS = 400
# torch.OutOfMemoryError is torch 2.5's name; older releases have only the CUDA one.
_OUT_OF_MEMORY: type[Exception] = getattr(torch, "OutOfMemoryError", None) or (
    torch.cuda.OutOfMemoryError
)

# How allocators word running out of memory: CUDA's, and the CPU's on Linux, macOS and
# Windows ("DefaultCPUAllocator: can't allocate memory", "not enough memory").
_MEMORY_MARKERS = (
    "out of memory",
    "can't allocate memory",
    "cannot allocate memory",
    "not enough memory",
    "defaultcpuallocator",
)

# transformers prints notes about optional packages (torchvision) as diffusers imports it;
# they are for its developers, not for someone illustrating a novel. A user's own setting wins.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")


def _quiet_libraries() -> None:
    """diffusers and transformers log notes and draw loading bars meant for their developers."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 3] + "..."


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says the device (GPU or the computer's RAM) ran out of memory."""
    if isinstance(error, (_OUT_OF_MEMORY, MemoryError)):
        return True
    text = str(error).lower()
    return any(marker in text for marker in _MEMORY_MARKERS)


def out_of_memory_message(device: str, images: int, width: int, height: int, detail: str) -> str:
    """What ran out, and the fixes that fit ``device``: never --device cpu on the CPU."""
    what = (
        "The computer ran out of memory (RAM)"
        if device == "cpu"
        else f"The GPU ({device}) ran out of memory"
    )
    fixes = ["a smaller --width/--height (1024x1024 is SDXL's own size)"]
    if images > 1:
        fixes.insert(0, "--batch-size 1")
    fixes.append("close other programs that use " + ("memory" if device == "cpu" else "the GPU"))
    return (
        f"{what} rendering {images} image(s) at {width}x{height} ({detail}). "
        f"Use {', or '.join(fixes)}."
    )


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _dtype_argument(dtype: torch.dtype) -> dict[str, torch.dtype]:
    """``dtype=`` where diffusers takes it; older releases know only ``torch_dtype=``, which
    newer ones still take but warn about."""
    from diffusers.utils import deprecation_utils

    name = "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"
    return {name: dtype}


def load_pipeline(source: ModelSource, dtype: torch.dtype) -> Any:
    """A ``StableDiffusionXLPipeline`` from a folder, a single file or the hub.

    Only safetensors weights are read: a pickled ``.bin`` or ``.ckpt`` can run code.
    """
    from diffusers import StableDiffusionXLPipeline

    typed = _dtype_argument(dtype)
    try:
        if source.kind == "folder":
            return StableDiffusionXLPipeline.from_pretrained(
                source.location, **typed, use_safetensors=True, local_files_only=True
            )
        if source.kind == "file":
            return StableDiffusionXLPipeline.from_single_file(source.location, **typed)
        if dtype == torch.float16:
            try:
                # Half the download where the repository has half-precision files.
                return StableDiffusionXLPipeline.from_pretrained(
                    source.location, **typed, variant="fp16", use_safetensors=True
                )
            except (OSError, ValueError):
                pass  # no fp16 variant here: load the full weights and convert them
        return StableDiffusionXLPipeline.from_pretrained(
            source.location, **typed, use_safetensors=True
        )
    except Exception as error:  # the hub and diffusers raise many types, all reported alike
        raise RenderError(_load_message(source, error)) from error


def _load_message(source: ModelSource, error: Exception) -> str:
    if source.kind == "hub":
        return (
            f"Could not load the SDXL model {source.location} from the Hugging Face hub "
            f"({_short(error)}). Check the name and the connection (the first download is "
            "about 7 GB), or point --sdxl-model at a local diffusers folder or .safetensors file."
        )
    what = (
        "a Stable Diffusion XL pipeline saved by diffusers (save_pretrained) with "
        "safetensors weights"
        if source.kind == "folder"
        else "a Stable Diffusion XL .safetensors checkpoint (diffusers also downloads SDXL's "
        "small configuration files for it once, so the first load needs the network)"
    )
    return (
        f"Could not load the SDXL model from {source.location} ({_short(error)}). "
        f"--sdxl-model must be {what}."
    )


class SDXLRenderer:
    """A loaded SDXL pipeline on one device, rendering batches of prompts with given seeds."""

    def __init__(self, source: ModelSource, *, device: str = "auto") -> None:
        _quiet_libraries()
        cuda = torch.cuda.is_available()
        self.device = choose_device(
            device,
            cuda=cuda,
            mps=_mps_available(),
            cuda_count=torch.cuda.device_count() if cuda else 0,
        )
        # Half precision on a GPU: twice as fast and half the memory, with no visible loss.
        # The CPU has no fast float16, so it stays in float32.
        torch_dtype = torch.float32 if self.device == "cpu" else torch.float16
        self.dtype = str(torch_dtype).removeprefix("torch.")
        self.source = source
        self.pipe = load_pipeline(source, torch_dtype)
        try:
            self.pipe.to(self.device)
        except (RuntimeError, MemoryError) as error:  # out of memory included
            advice = (
                "SDXL needs about 16 GB of memory on the CPU; close other programs."
                if self.device == "cpu"
                else "SDXL needs about 8 GB of GPU memory; close other programs that use the "
                "GPU, or use --device cpu."
            )
            raise RenderError(
                f"Could not move the SDXL model to {self.device} ({_short(error)}). {advice}"
            ) from error
        self.pipe.set_progress_bar_config(disable=True)
        self.scheduler = type(self.pipe.scheduler).__name__
        pairs = [
            (tokenizer, encoder)
            for tokenizer, encoder in (
                (self.pipe.tokenizer, self.pipe.text_encoder),
                (self.pipe.tokenizer_2, self.pipe.text_encoder_2),
            )
            if tokenizer is not None and encoder is not None
        ]
        if not pairs:
            raise RenderError(
                f"The model at {source.location} has no text encoder, so it cannot render "
                "from a prompt. Give an SDXL base model (not a refiner) with --sdxl-model."
            )
        self._pairs = pairs
        self._encodings: dict[str, Encoding] = {}

    # --- Prompt encoding ------------------------------------------------------------

    def _window(self, tokenizer: Any, encoder: Any) -> int:
        """Tokens in one CLIP window, start and end included (77 for SDXL)."""
        limits = [config.CLIP_TOKEN_WINDOW, int(encoder.config.max_position_embeddings)]
        model_max = getattr(tokenizer, "model_max_length", None)
        if isinstance(model_max, int) and 2 < model_max < 100_000:
            limits.append(model_max)
        return min(limits)

    def _chunks(self, tokenizer: Any, encoder: Any, text: str) -> list[list[int]]:
        """``text``'s token ids in pieces that each fit a window with its start and end tokens."""
        ids: list[int] = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        room = self._window(tokenizer, encoder) - 2
        comma_ids = tokenizer(",", add_special_tokens=False)["input_ids"]
        comma = comma_ids[0] if len(comma_ids) == 1 else None
        lookback = min(config.CLIP_CHUNK_COMMA_LOOKBACK, room - 1)
        chunks: list[list[int]] = []
        while len(ids) > room:
            cut = room
            if comma is not None:
                for position in range(room - 1, room - 1 - lookback, -1):
                    if ids[position] == comma:
                        cut = position + 1
                        break
            chunks.append(ids[:cut])
            ids = ids[cut:]
        chunks.append(ids)
        return chunks

    def encoding(self, prompt: str) -> Encoding:
        """How many CLIP tokens ``prompt`` is, and how many windows it takes."""
        found = self._encodings.get(prompt)
        if found is None:
            chunks = [self._chunks(t, e, prompt) for t, e in self._pairs]
            found = Encoding(
                tokens=sum(len(c) for c in chunks[0]), chunks=max(len(c) for c in chunks)
            )
            self._encodings[prompt] = found
        return found

    def _encode(self, texts: Sequence[str], windows: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states (batch, windows * 77, 2048) and pooled embeddings (batch, 1280)."""
        hidden_states = []
        pooled: torch.Tensor | None = None
        for tokenizer, encoder in self._pairs:
            length = self._window(tokenizer, encoder)
            rows: list[list[int]] = []
            for text in texts:
                chunks = self._chunks(tokenizer, encoder, text)
                # Padding windows hold only start and end tokens, as an empty prompt does.
                chunks += [[] for _ in range(windows - len(chunks))]
                for chunk in chunks:
                    row = [tokenizer.bos_token_id, *chunk, tokenizer.eos_token_id]
                    rows.append(row + [tokenizer.pad_token_id] * (length - len(row)))
            ids = torch.tensor(rows, dtype=torch.long, device=encoder.device)
            output = encoder(ids, output_hidden_states=True)
            # SDXL reads the penultimate layer of both encoders, as the pipeline does.
            hidden = output.hidden_states[-2]
            hidden_states.append(hidden.reshape(len(texts), windows * length, hidden.shape[-1]))
            if pooled is None and output[0].ndim == 2:
                # The projected pooled output of the encoder with projection, first window.
                pooled = output[0].reshape(len(texts), windows, -1)[:, 0]
        if pooled is None:
            raise RenderError(
                f"The model at {self.source.location} has no pooled text encoder "
                "(CLIPTextModelWithProjection), which SDXL needs. Give an SDXL model."
            )
        return torch.cat(hidden_states, dim=-1), pooled

    def _embeddings(
        self, prompts: Sequence[str], settings: RenderSettings
    ) -> dict[str, torch.Tensor | None]:
        negative = settings.negative_prompt
        windows = max(self.encoding(p).chunks for p in prompts)
        unet_config = self.pipe.unet.config
        guided = settings.guidance > 1 and getattr(unet_config, "time_cond_proj_dim", None) is None
        zero_negative = negative is None and bool(
            getattr(self.pipe.config, "force_zeros_for_empty_prompt", False)
        )
        if guided and not zero_negative:
            windows = max(windows, self.encoding(negative or "").chunks)
        prompt_embeds, pooled = self._encode(prompts, windows)
        negative_embeds: torch.Tensor | None = None
        negative_pooled: torch.Tensor | None = None
        if guided and zero_negative:
            # What the pipeline does with no negative prompt on SDXL base.
            negative_embeds = torch.zeros_like(prompt_embeds)
            negative_pooled = torch.zeros_like(pooled)
        elif guided:
            negative_embeds, negative_pooled = self._encode(
                [negative or ""] * len(prompts), windows
            )
        return {
            "prompt_embeds": prompt_embeds,
            "pooled_prompt_embeds": pooled,
            "negative_prompt_embeds": negative_embeds,
            "negative_pooled_prompt_embeds": negative_pooled,
        }

    # --- Rendering ----------------------------------------------------------------

    def render(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        settings: RenderSettings,
        on_step: Callable[[int, int], None],
    ) -> list[Image]:
        """One image per prompt, each from its own seed, whatever the batch around it."""

        def step_end(
            pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]
        ) -> dict[str, Any]:
            on_step(step + 1, settings.steps)
            return tensors

        # A generator per image, on the CPU: the starting noise is the same on every
        # device and in every batch, so a seed reproduces its image anywhere.
        generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]
        try:
            with torch.inference_mode():
                embeddings = self._embeddings(prompts, settings)
                output = self.pipe(
                    **embeddings,
                    num_inference_steps=settings.steps,
                    guidance_scale=settings.guidance,
                    width=settings.width,
                    height=settings.height,
                    generator=generators,
                    callback_on_step_end=step_end,
                    output_type="pil",
                )
        except (RuntimeError, MemoryError) as error:  # torch's OutOfMemoryError included
            if is_out_of_memory(error):
                raise RenderError(
                    out_of_memory_message(
                        self.device, len(prompts), settings.width, settings.height, _short(error)
                    )
                ) from error
            hint = (
                "Try another --sdxl-model."
                if self.device == "cpu"
                else "Try --device cpu to rule out the GPU, or another --sdxl-model."
            )
            raise RenderError(
                f"Rendering failed on {self.device} ({_short(error)}). {hint}"
            ) from error
        return list(output.images)
