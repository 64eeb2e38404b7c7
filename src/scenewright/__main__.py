"""``python -m scenewright`` is the ``scenewright`` command."""

from scenewright.cli import main

if __name__ == "__main__":
    main()
