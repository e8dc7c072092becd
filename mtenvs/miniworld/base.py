"""The shared base of mtenvs' MiniWorld families (MultiMaze, MultiNav, MultiLaserTag).

:class:`MultiTaskMiniWorldEnv` combines the multi-task contract (:class:`mtenvs.core.MultiTaskEnv`)
with MiniWorld's world model (rooms, entities, collision, OpenGL drawing) and fixes what a
multi-task benchmark needs:

* **One action set** for every task: :class:`Action` (turn, move, strafe), an ``IntEnum`` as
  MiniWorld's own ``MiniWorldEnv.Actions``. Subclasses may append actions (LaserTag adds ``tag``)
  by overriding :attr:`actions` and :meth:`_apply_action`.
* **One observation**: ``Box(0, 255, (60, 80, 3), uint8)``, the agent's first-person RGB view.
* **Deterministic motion**: fixed steps (:data:`FORWARD_STEP` metres, :data:`TURN_STEP_DEGREES`),
  no drift, no domain randomisation; the heading is an integer number of turn steps
  (:attr:`heading`), so headings never drift and axis-aligned motion is exact.
* **Fast offscreen rendering**: a single-sample framebuffer read back directly (MiniWorld's own
  observation framebuffer is multisampled and resolved with two blits), pyglet's GL error checks
  off (:mod:`mtenvs.miniworld.headless`), textures loaded without MiniWorld's pure-Python pixel
  conversion (:func:`preload_texture`), and a per-env display list (MiniWorld compiles every env's
  static scene into display list 1, which envs sharing one process and GL share group overwrite
  for each other).
* **Placement that fails**: :meth:`place_entity` raises :class:`PlacementError` after
  ``max_tries`` attempts instead of retrying forever; :meth:`place_in_cells` tries several cells.
* **Collision**: walls and closed :class:`Door` s block movement, and so do entities with
  ``blocks_movement = True`` (e.g. bots); pick-ups and goals do not.
* **A view for humans**: ``render()`` returns the first-person view and a top-down map side by side.

Subclasses implement ``_gen_world`` (add rooms with :meth:`add_grid_maze`, entities, doors and place
the agent) and ``_task_step`` (reward after the agent moved), and set ``_init_kwargs`` (for pickling).
"""

from __future__ import annotations

import abc
import math
from ctypes import POINTER, byref
from enum import IntEnum
from typing import Any

import numpy as np
import pyglet
from gymnasium import spaces
from miniworld.entity import Agent, Box, Entity
from miniworld.math import intersect_circle_segs
from miniworld.opengl import Texture
from miniworld.params import DEFAULT_PARAMS
from miniworld.utils import get_file_path
from pyglet import gl

from mtenvs.core import MultiTaskEnv
from mtenvs.miniworld.headless import MiniWorldEnv
from mtenvs.miniworld.layout import Cell, Edge, GridMaze, edge, opening_along_x
from mtenvs.validation import check_action


class Action(IntEnum):
    """The actions every MiniWorld family shares (``Discrete(6)``)."""

    turn_left = 0
    turn_right = 1
    move_forward = 2
    move_back = 3
    strafe_left = 4
    strafe_right = 5


ACTION_NAMES: tuple[str, ...] = tuple(action.name for action in Action)
OBS_WIDTH = 80
OBS_HEIGHT = 60
VIEW_WIDTH = 320  # each half of the human view returned by render()
VIEW_HEIGHT = 240
FORWARD_STEP = 0.5  # metres per move/strafe action
TURN_STEP_DEGREES = 30
WALL_HEIGHT = 2.74  # MiniWorld's default wall height
PLACEMENT_TRIES = 1000
MAX_OBJECTS = 256  # rewards / objects per maze (a 16x16 maze has 256 cells)
MAX_EPISODE_STEPS = 1_000_000

# Lighting and camera defaults of MiniWorld, without randomisation.
_PARAMS = DEFAULT_PARAMS.no_random()


class PlacementError(RuntimeError):
    """Raised when an entity cannot be placed (no free spot found in ``max_tries`` random draws)."""


class OffscreenFrameBuffer:
    """A single-sample RGBA8 framebuffer with a depth buffer, read back with one ``glReadPixels``.

    Create it while the owning env's GL context is current; framebuffers are not shared between
    contexts.
    """

    def __init__(self, width: int, height: int):
        self.width = width
        self.height = height
        self.fbo = gl.GLuint(0)
        gl.glGenFramebuffers(1, byref(self.fbo))
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self.fbo)
        self.color = gl.GLuint(0)
        gl.glGenTextures(1, byref(self.color))
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.color)
        gl.glTexImage2D(gl.GL_TEXTURE_2D, 0, gl.GL_RGBA8, width, height, 0, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE, None)
        gl.glFramebufferTexture2D(gl.GL_FRAMEBUFFER, gl.GL_COLOR_ATTACHMENT0, gl.GL_TEXTURE_2D, self.color, 0)
        self.depth = gl.GLuint(0)
        gl.glGenRenderbuffers(1, byref(self.depth))
        gl.glBindRenderbuffer(gl.GL_RENDERBUFFER, self.depth)
        gl.glRenderbufferStorage(gl.GL_RENDERBUFFER, gl.GL_DEPTH_COMPONENT16, width, height)
        gl.glFramebufferRenderbuffer(gl.GL_FRAMEBUFFER, gl.GL_DEPTH_ATTACHMENT, gl.GL_RENDERBUFFER, self.depth)
        status = gl.glCheckFramebufferStatus(gl.GL_FRAMEBUFFER)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        if status != gl.GL_FRAMEBUFFER_COMPLETE:
            raise RuntimeError(f"OpenGL framebuffer {width}x{height} is incomplete (status {status:#x}).")
        self._pixels = np.zeros((height, width, 3), dtype=np.uint8)

    def bind(self) -> None:
        """Render into this framebuffer (MiniWorld's ``FrameBuffer.bind`` interface)."""
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self.fbo)
        gl.glViewport(0, 0, self.width, self.height)

    def resolve(self) -> np.ndarray:
        """The rendered image as a new ``(height, width, 3)`` uint8 array, top row first."""
        gl.glPixelStorei(gl.GL_PACK_ALIGNMENT, 1)
        gl.glReadPixels(
            0,
            0,
            self.width,
            self.height,
            gl.GL_RGB,
            gl.GL_UNSIGNED_BYTE,
            self._pixels.ctypes.data_as(POINTER(gl.GLubyte)),
        )
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        return self._pixels[::-1].copy()  # OpenGL's rows start at the bottom


def preload_texture(name: str) -> None:
    """Load MiniWorld texture ``name`` into MiniWorld's process-wide cache, fast.

    MiniWorld's own loader converts each PNG to RGBA in pure Python through pyglet (about 3 s per
    texture under llvmpipe machines' CPUs); here the decoded pixels are uploaded in their own format,
    with the same mipmaps and filtering. Textures live in the GL share group of every env's context.
    """
    path = get_file_path("textures", f"{name}_1", "png")  # the variant MiniWorld picks without randomisation
    if path in Texture.tex_cache:
        return
    try:
        image = pyglet.image.load(path).get_image_data()
    except FileNotFoundError as err:
        raise ValueError(f"Unknown MiniWorld texture {name!r} (no file {path}).") from err
    channels = len(image.format)
    if image.format not in ("RGB", "RGBA"):
        channels, image_format = 4, "RGBA"
    else:
        image_format = image.format
    pixels = image.get_data(image_format, image.width * channels)
    texture = pyglet.image.Texture.create(image.width, image.height)
    gl.glBindTexture(gl.GL_TEXTURE_2D, texture.id)
    gl.glPixelStorei(gl.GL_UNPACK_ALIGNMENT, 1)
    gl_format = gl.GL_RGB if image_format == "RGB" else gl.GL_RGBA
    gl.glTexImage2D(
        gl.GL_TEXTURE_2D, 0, gl.GL_RGB, image.width, image.height, 0, gl_format, gl.GL_UNSIGNED_BYTE, pixels
    )
    gl.glGenerateMipmap(gl.GL_TEXTURE_2D)
    gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MAG_FILTER, gl.GL_LINEAR)
    gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MIN_FILTER, gl.GL_LINEAR_MIPMAP_LINEAR)
    gl.glBindTexture(gl.GL_TEXTURE_2D, 0)
    Texture.tex_cache[path] = Texture(texture, name)


class Door:
    """A door in the opening of a maze edge: a wall segment that blocks movement while closed."""

    def __init__(self, maze: GridMaze, e: Edge, color: str = "grey"):
        self.edge = e
        self.segment = maze.opening_segment(e)
        self.closed = False
        # Box sizes are along the entity's own x axis; turn it to lie across the opening.
        self.entity = Box(color=color, size=[maze.opening_width, WALL_HEIGHT, 0.12])
        self.entity.pos = maze.opening_center(e)
        self.entity.dir = 0.0 if opening_along_x(e) else math.pi / 2
        self.entity.randomize(_PARAMS, None)


class MultiTaskMiniWorldEnv(MultiTaskEnv, MiniWorldEnv, metaclass=abc.ABCMeta):
    """Base class of the mtenvs MiniWorld families (see the module docstring for what it provides).

    Subclass contract:

    * ``__init__``: set ``self._init_kwargs`` (JSON kwargs that rebuild the env), call
      ``self._init_tasks(...)`` and then :meth:`_init_miniworld`.
    * ``_gen_world()``: build the episode's world: rooms (:meth:`add_grid_maze`), entities
      (:meth:`place_entity`, :meth:`place_in_cell`, :meth:`place_in_cells`), doors (:meth:`add_door`) and the agent
      (:meth:`place_agent` or :meth:`place_agent_in_cell`). Use ``self.np_random`` for all randomness.
    * ``_task_step(action) -> float``: the reward after the agent moved; may move entities,
      respawn the agent, toggle doors.
    * optionally ``_task_info() -> dict`` (extra info entries) and ``_terminated() -> bool``
      (default: episodes only end by truncation after the task's ``episode_steps``).
    * for the scripted oracle (:mod:`mtenvs.miniworld.oracle`): a ``maze`` attribute,
      ``oracle_targets() -> list of positions`` and optionally ``oracle_avoid() -> set of edges``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    actions: type[IntEnum] = Action
    action_names: tuple[str, ...] = ACTION_NAMES
    _init_kwargs: dict[str, Any]

    def _init_miniworld(self, *, episode_steps: int | list[int], render_mode: str | None) -> None:
        """Set up spaces, OpenGL resources and simulation parameters (call once from ``__init__``,
        after ``_init_tasks``).

        ``episode_steps`` is one limit for every task, or a list with one limit per task
        (DeepMind Lab's levels differ in length); the current task's limit is ``self.max_episode_steps``.
        (It is not called ``max_episode_steps`` because ``gym.make`` takes that argument for itself
        and wraps a ``TimeLimit`` instead of passing it on.)
        """
        limits = episode_steps if isinstance(episode_steps, list) else [episode_steps] * self.num_tasks
        if len(limits) != self.num_tasks or not all(
            isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= MAX_EPISODE_STEPS
            for limit in limits
        ):
            raise ValueError(
                f"episode_steps must be an int in 1..{MAX_EPISODE_STEPS} or a list of one such int per task "
                f"({self.num_tasks}: {', '.join(self.task_names)}), got {episode_steps!r}."
            )
        self.episode_limits = tuple(limits)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"Unknown render_mode {render_mode!r}; valid: {self.metadata['render_modes']}.")
        self.max_episode_steps = self.episode_limits[self.task_id]
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(len(self.action_names))
        self.observation_space = spaces.Box(0, 255, (OBS_HEIGHT, OBS_WIDTH, 3), np.uint8)
        self.params = _PARAMS
        self.domain_rand = False
        self.max_forward_step = FORWARD_STEP
        self.window = None
        self.view = "agent"
        self.agent: Agent | None = None
        self.entities: list[Entity] = []
        self.rooms: list = []
        self.wall_segs: list | np.ndarray = []
        self.doors: list[Door] = []
        self.heading = 0
        self.step_count = 0
        # Our own 1x1 offscreen context; MiniWorld's __init__ (not called) would also build 800x600
        # 16x multisampled buffers and reset the env.
        self.shadow_window = pyglet.window.Window(width=1, height=1, visible=False)
        self.shadow_window.switch_to()
        gl.glEnable(gl.GL_DEPTH_TEST)
        gl.glEnable(gl.GL_CULL_FACE)
        self.obs_fb = OffscreenFrameBuffer(OBS_WIDTH, OBS_HEIGHT)
        self._view_fb: OffscreenFrameBuffer | None = None  # created on the first render()
        self._static_list = gl.glGenLists(1)

    # ------------------------------------------------------------------ world building helpers

    def add_grid_maze(
        self, maze: GridMaze, *, wall_tex: str, floor_tex: str, ceil_tex: str = "ceiling_tiles"
    ) -> dict[Cell, Any]:
        """Add one MiniWorld room per maze cell, joined through the maze's open edges.

        Returns (and keeps as ``cell_rooms``) the mapping cell -> room.
        """
        self.shadow_window.switch_to()
        for name in (wall_tex, floor_tex, ceil_tex):
            preload_texture(name)
        rooms = {}
        for cell in maze.cells:
            min_x, max_x, min_z, max_z = maze.cell_bounds(cell)
            rooms[cell] = self.add_rect_room(
                min_x=min_x,
                max_x=max_x,
                min_z=min_z,
                max_z=max_z,
                wall_tex=wall_tex,
                floor_tex=floor_tex,
                ceil_tex=ceil_tex,
            )
        self.cell_rooms = rooms
        half = maze.opening_width / 2
        for a, b in sorted(maze.open_edges):
            center = maze.opening_center((a, b))
            if opening_along_x((a, b)):
                self.connect_rooms(rooms[a], rooms[b], min_x=center[0] - half, max_x=center[0] + half)
            else:
                self.connect_rooms(rooms[a], rooms[b], min_z=center[2] - half, max_z=center[2] + half)
        return rooms

    def add_door(self, maze: GridMaze, e: Edge, color: str = "grey") -> Door:
        """Put an (open) door in the opening of maze edge ``e``; toggle it with ``door.closed``."""
        e = edge(*e)
        if e not in maze.open_edges:
            raise ValueError(f"Edge {e} has no opening to put a door in.")
        door = Door(maze, e, color)
        self.doors.append(door)
        return door

    def oracle_avoid(self) -> set[Edge]:
        """Maze edges the scripted oracle should not cross now (none by default)."""
        return set()

    def closed_edges(self) -> set[Edge]:
        """The maze edges whose doors are closed now."""
        return {door.edge for door in self.doors if door.closed}

    def place_entity(
        self,
        ent: Entity,
        room: Any = None,
        pos: np.ndarray | None = None,
        dir: float | None = None,
        min_x: float | None = None,
        max_x: float | None = None,
        min_z: float | None = None,
        max_z: float | None = None,
        *,
        min_distance: float = 0.0,
        max_tries: int = PLACEMENT_TRIES,
    ) -> Entity:
        """Place ``ent`` at ``pos``, or at a random free spot (in ``room`` / the given bounds).

        A free spot keeps the entity's circle clear of walls, closed doors and other entities (plus
        ``min_distance`` metres). Raises :class:`PlacementError` when ``max_tries`` random draws
        find none, where MiniWorld would loop forever. Entities are added to ``self.entities``.
        """
        if not self.rooms:
            raise RuntimeError("Add rooms before placing entities.")
        if ent.radius is None:
            raise ValueError(f"{type(ent).__name__} has no radius; entities need a physical size to be placed.")
        self._ensure_static_data()
        rng = self.np_random
        if pos is None:
            for _ in range(max_tries):
                r = room if room is not None else self.rooms[int(rng.choice(len(self.rooms), p=self.room_probs))]
                lx = r.min_x if min_x is None else min_x
                hx = r.max_x if max_x is None else max_x
                lz = r.min_z if min_z is None else min_z
                hz = r.max_z if max_z is None else max_z
                candidate = np.array([rng.uniform(lx, hx), 0.0, rng.uniform(lz, hz)])
                if r.point_inside(candidate) and self._is_free(ent, candidate, ent.radius + min_distance):
                    pos = candidate
                    break
            else:
                if min_x is not None:
                    where = f"x [{min_x:g}, {max_x:g}], z [{min_z:g}, {max_z:g}]"
                else:
                    where = "the world" if room is None else f"room x[{room.min_x:g}, {room.max_x:g}]"
                raise PlacementError(
                    f"No free spot for a {type(ent).__name__} (radius {ent.radius:.2f} m) in {where} after "
                    f"{max_tries} tries; the space is too crowded. Use fewer objects or a larger maze."
                )
        ent.pos = np.asarray(pos, dtype=float)
        ent.dir = float(rng.uniform(-math.pi, math.pi)) if dir is None else float(dir)
        if ent is not self.agent:
            ent.randomize(self.params, None)
        if ent not in self.entities:
            self.entities.append(ent)
        return ent

    def place_in_cell(self, ent: Entity, maze: GridMaze, cell: Cell, **kwargs: Any) -> Entity:
        """Place ``ent`` at a random free spot inside maze cell ``cell`` (keeping clear of its walls)."""
        min_x, max_x, min_z, max_z = maze.cell_bounds(cell)
        margin = ent.radius
        if max_x - min_x <= 2 * margin:
            raise PlacementError(f"A {type(ent).__name__} of radius {ent.radius:.2f} m does not fit in a cell.")
        return self.place_entity(
            ent,
            room=self.cell_rooms[cell],
            min_x=min_x + margin,
            max_x=max_x - margin,
            min_z=min_z + margin,
            max_z=max_z - margin,
            **kwargs,
        )

    def place_agent(self, room: Any = None, pos: np.ndarray | None = None, **kwargs: Any) -> Entity:
        """Place the agent (random free spot unless ``pos``), facing a random multiple of the turn step."""
        self.heading = int(self.np_random.integers(360 // TURN_STEP_DEGREES))
        kwargs.pop("dir", None)
        return self.place_entity(self.agent, room=room, pos=pos, dir=self._heading_radians(), **kwargs)

    def place_in_cells(self, ent: Entity, maze: GridMaze, cells: list[Cell], **kwargs: Any) -> Entity:
        """Place ``ent`` in one of ``cells``: they are tried in random order, 100 draws each.

        Raises :class:`PlacementError` when none of them has room.
        """
        for index in self.np_random.permutation(len(cells)):
            try:
                return self.place_in_cell(ent, maze, cells[int(index)], max_tries=100, **kwargs)
            except PlacementError:
                continue
        raise PlacementError(
            f"No room for a {type(ent).__name__} (radius {ent.radius:.2f} m) in any of the cells {sorted(cells)}; "
            "the maze is too crowded. Use fewer objects or a larger maze."
        )

    def place_agent_in_cell(self, maze: GridMaze, cells: Cell | list[Cell]) -> None:
        """Put the agent at a random free spot of a cell (one of ``cells``, see :meth:`place_in_cells`).

        Works at the episode start and for respawns within an episode (what it carries comes along).
        The heading is a random multiple of the turn step.
        """
        if self.agent in self.entities:
            self.entities.remove(self.agent)
        self.heading = int(self.np_random.integers(360 // TURN_STEP_DEGREES))
        candidates = [cells] if isinstance(cells, tuple) else list(cells)
        self.place_in_cells(self.agent, maze, candidates, dir=self._heading_radians())

    # ------------------------------------------------------------------ collision

    def _is_free(self, ent: Entity, pos: np.ndarray, radius: float) -> bool:
        if self._hits_wall(pos, radius):
            return False
        for other in self.entities:
            if other is not ent and np.hypot(*(other.pos - pos)[[0, 2]]) < radius + other.radius:
                return False
        return True

    def _hits_wall(self, pos: np.ndarray, radius: float) -> bool:
        point = np.array([pos[0], 0.0, pos[2]])
        if len(self.wall_segs) and intersect_circle_segs(point, radius, self.wall_segs):
            return True
        closed = [door.segment for door in self.doors if door.closed]
        return bool(closed) and bool(intersect_circle_segs(point, radius, np.stack(closed)))

    def intersect(self, ent: Entity, pos: np.ndarray, radius: float) -> bool | Entity | None:
        """Walls and closed doors block; so do entities with ``blocks_movement = True`` (e.g. bots).

        Pick-ups and goals do not block: tasks collect them when the agent comes near.
        """
        if self._hits_wall(pos, radius):
            return True
        for other in self.entities:
            if other is ent or not getattr(other, "blocks_movement", False):
                continue
            if np.hypot(*(other.pos - pos)[[0, 2]]) < radius + other.radius:
                return other
        return None

    # ------------------------------------------------------------------ episode

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        MultiTaskEnv.reset(self, seed=seed, options=options)  # not MiniWorldEnv.reset: worlds are built below
        self._choose_task(options)
        self.max_episode_steps = self.episode_limits[self.task_id]
        self.step_count = 0
        self.agent = Agent()
        self.agent.randomize(self.params, None)
        self.entities, self.rooms, self.wall_segs, self.doors = [], [], [], []
        self.cell_rooms: dict[Cell, Any] = {}
        self._gen_world()
        if self.agent not in self.entities:
            raise RuntimeError(f"{type(self).__name__}._gen_world() must place the agent.")
        self._ensure_static_data()
        self.params.sample_many(None, self, ["sky_color", "light_pos", "light_color", "light_ambient"])
        self.min_x = min(r.min_x for r in self.rooms)
        self.max_x = max(r.max_x for r in self.rooms)
        self.min_z = min(r.min_z for r in self.rooms)
        self.max_z = max(r.max_z for r in self.rooms)
        self._render_static()
        return self.render_obs(), self._info()

    def step(self, action: Any):
        action = check_action(action, len(self.action_names), names=self.action_names)
        self._check_can_step()
        self.step_count += 1
        self._apply_action(action)
        reward = float(self._task_step(action))
        terminated, truncated = self._terminated(), self.step_count >= self.max_episode_steps
        self._end_step(terminated, truncated)
        return self.render_obs(), reward, terminated, truncated, self._info()

    def _apply_action(self, action: int) -> None:
        """Turn, move or strafe by one fixed step (moves into a wall or closed door do nothing)."""
        name = self.action_names[action]
        if name in ("turn_left", "turn_right"):
            self.heading = (self.heading + (1 if name == "turn_left" else -1)) % (360 // TURN_STEP_DEGREES)
            self.agent.dir = self._heading_radians()
        elif name in ("move_forward", "move_back", "strafe_left", "strafe_right"):
            forward = {"move_forward": FORWARD_STEP, "move_back": -FORWARD_STEP}.get(name, 0.0)
            right = {"strafe_right": FORWARD_STEP, "strafe_left": -FORWARD_STEP}.get(name, 0.0)
            target = self.agent.pos + self.agent.dir_vec * forward + self.agent.right_vec * right
            if not self.intersect(self.agent, target, self.agent.radius):
                self.agent.pos = target

    def _heading_radians(self) -> float:
        return self.heading * TURN_STEP_DEGREES * math.pi / 180

    @abc.abstractmethod
    def _task_step(self, action: int) -> float:
        """The task's reward for this step, after the agent has moved (subclasses define it)."""

    def _terminated(self) -> bool:
        return False

    def _task_info(self) -> dict[str, Any]:
        return {}

    def _info(self) -> dict[str, Any]:
        return {**self.task_info(), **self._task_info()}

    def _ensure_static_data(self) -> None:
        if len(self.wall_segs) == 0:
            self._gen_static_data()

    # ------------------------------------------------------------------ rendering

    def _render_static(self) -> None:
        """Compile lights, rooms and static entities into this env's own display list."""
        self.shadow_window.switch_to()
        gl.glNewList(self._static_list, gl.GL_COMPILE)
        gl.glLightfv(gl.GL_LIGHT0, gl.GL_POSITION, (gl.GLfloat * 4)(*self.light_pos, 1))
        gl.glLightfv(gl.GL_LIGHT0, gl.GL_AMBIENT, (gl.GLfloat * 4)(*self.light_ambient))
        gl.glLightfv(gl.GL_LIGHT0, gl.GL_DIFFUSE, (gl.GLfloat * 4)(*self.light_color))
        gl.glEnable(gl.GL_LIGHTING)
        gl.glEnable(gl.GL_LIGHT0)
        gl.glShadeModel(gl.GL_SMOOTH)
        gl.glEnable(gl.GL_COLOR_MATERIAL)
        gl.glColorMaterial(gl.GL_FRONT_AND_BACK, gl.GL_AMBIENT_AND_DIFFUSE)
        gl.glEnable(gl.GL_TEXTURE_2D)
        for room in self.rooms:
            room._render()
        for ent in self.entities:
            if ent.is_static:
                ent.render()
        gl.glEndList()

    def _render_world(self, frame_buffer: OffscreenFrameBuffer, render_agent: bool) -> np.ndarray:
        gl.glCallList(self._static_list)
        for ent in self.entities:
            if not ent.is_static and ent is not self.agent:
                ent.render()
        for door in self.doors:
            if door.closed:
                door.entity.render()
        if render_agent:
            self.agent.render()
        return frame_buffer.resolve()

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the first-person view (left) beside a top-down map with the agent (right)."""
        if self.render_mode != "rgb_array":
            return None
        first_person = self.render_obs(self._view_framebuffer())
        return np.concatenate([first_person, self.render_top()], axis=1)

    def render_top(self) -> np.ndarray:
        """Only the top-down map (``VIEW_HEIGHT x VIEW_WIDTH x 3``), whatever the render mode."""
        return self.render_top_view(self._view_framebuffer())

    def _view_framebuffer(self) -> OffscreenFrameBuffer:
        if self.agent is None:
            raise RuntimeError("Call reset() before rendering.")
        self.shadow_window.switch_to()
        if self._view_fb is None:
            self._view_fb = OffscreenFrameBuffer(VIEW_WIDTH, VIEW_HEIGHT)
        return self._view_fb

    def close(self) -> None:
        # The GL context stays alive: textures are cached process-wide in its share group.
        self.agent = None
        self._needs_reset = True

    # ------------------------------------------------------------------ pickling

    def __getstate__(self) -> dict[str, Any]:
        """Constructor kwargs, RNG and task schedule state; the episode itself restarts with ``reset``."""
        return {"kwargs": self._init_kwargs, **self._contract_state(), "needs_reset": True}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state["kwargs"])
        self._restore_contract_state(state)
