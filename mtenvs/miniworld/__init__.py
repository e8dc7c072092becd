"""MiniWorld families: MultiMaze and MultiNav (Distral's DeepMind Lab maze and navigation task sets).

Importing this package first sets up headless rendering (:mod:`mtenvs.miniworld.headless`), so
every module below it may import ``miniworld`` and ``pyglet.gl`` normally.
"""

from mtenvs.miniworld import headless  # noqa: F401  (must run before anything imports miniworld)
