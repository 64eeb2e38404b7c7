"""Sentences with their scene context: the first artifact of a run (``sentences.json``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from scenewright import config
from scenewright.novel import Chapter
from scenewright.prompt_generator import SceneContext


@dataclass(frozen=True)
class Scene:
    """One sentence to illustrate, and what surrounds it."""

    chapter: int  # Chapter.number, 1-based
    chapter_title: str  # Chapter.display_title, e.g. "I. Introduction"
    index: int  # 1-based position of the sentence in its chapter
    sentence: str
    before: tuple[str, ...]
    after: tuple[str, ...]

    @property
    def context(self) -> SceneContext:
        return SceneContext(chapter_title=self.chapter_title, before=self.before, after=self.after)

    @property
    def ref(self) -> str:
        """Short reference for people: ``3.12`` is chapter 3, sentence 12."""
        return f"{self.chapter}.{self.index}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["before"] = list(self.before)
        data["after"] = list(self.after)
        return data


def build_scenes(
    chapters: Iterable[Chapter],
    *,
    before: int = config.CONTEXT_SENTENCES_BEFORE,
    after: int = config.CONTEXT_SENTENCES_AFTER,
) -> list[Scene]:
    """Every sentence of ``chapters``, with up to ``before``/``after`` neighbours in its chapter."""
    scenes: list[Scene] = []
    for chapter in chapters:
        sentences = chapter.sentences
        for i, sentence in enumerate(sentences):
            scenes.append(
                Scene(
                    chapter=chapter.number,
                    chapter_title=chapter.display_title,
                    index=i + 1,
                    sentence=sentence,
                    before=tuple(sentences[max(0, i - before) : i]),
                    after=tuple(sentences[i + 1 : i + 1 + after]),
                )
            )
    return scenes
