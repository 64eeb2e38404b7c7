"""scenewright: illustrate a novel scene by scene, and account for every cent."""

from __future__ import annotations

__version__ = "0.1.0"
