"""Headless OpenGL set-up for MiniWorld: import this module before anything imports ``miniworld``.

MiniWorld draws with pyglet. On a machine without a display, pyglet must open its OpenGL context
through EGL (Mesa's llvmpipe on CPU-only machines), which it only does when
``pyglet.options["headless"]`` is set before ``pyglet.gl`` is first imported (the
``PYOPENGL_PLATFORM=egl`` variable alone does not reach pyglet). We also turn off pyglet's
per-call GL error checking (``debug_gl``), which costs several percent of every step, and make
Mesa's llvmpipe rasterise in the calling thread (``LP_NUM_THREADS=0`` unless already set): an 80x60
frame is too small to gain from helper threads, and one core per env is what vector envs want.

Every mtenvs module that touches MiniWorld imports it through this module, so users configure
nothing. mtenvs envs only render offscreen (``rgb_array``), so headless EGL is used on desktops too.
"""

from __future__ import annotations

import os
import sys

import pyglet

if "pyglet.gl" in sys.modules and pyglet.options["headless"] is not True:
    # Too late to switch platforms: pyglet has already bound its GL functions to a windowing system.
    raise ImportError(
        "pyglet.gl (or miniworld) was imported before mtenvs' MiniWorld envs, so they cannot be set up "
        "for headless rendering. Import mtenvs.miniworld before miniworld and pyglet.gl, or set "
        'pyglet.options["headless"] = True yourself before importing them.'
    )

pyglet.options["headless"] = True
pyglet.options["debug_gl"] = False
os.environ.setdefault("LP_NUM_THREADS", "0")  # read when the first GL context is created

import miniworld  # noqa: E402  (must follow the pyglet options above)
from miniworld.miniworld import MiniWorldEnv  # noqa: E402

__all__ = ["MiniWorldEnv", "miniworld"]
