"""MultiLaserTag: 8 laser-tag levels against bots driven by a built-in AI (Distral's DeepMind Lab laser-tag set)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv

from mtenvs.core import ensure_json_kwargs
from mtenvs.miniworld import make_miniworld_vec
from mtenvs.miniworld.base import (
    ACTION_NAMES,
    TURN_STEP_DEGREES,
    MultiTaskMiniWorldEnv,
    PlacementError,
)
from mtenvs.miniworld.bots import (
    AGENT_TAG_CONE,
    BOT_COLORS,
    NEAR_MISS_CONE,
    TAG_COOLDOWN,
    TAG_RANGE,
    Bot,
    WallMap,
    angle_difference,
    check_skill,
    heading_to,
    planar_distance,
    sees,
    start_flight,
    step_bot,
    tag_target,
)
from mtenvs.miniworld.layout import Cell, GridMaze, edge, generate_maze
from mtenvs.validation import check_int, check_number
from mtenvs.wrappers import task_obs_entry_point

# The shared MiniWorld actions plus ``tag`` (6).
LaserTagAction = IntEnum("LaserTagAction", [(name, index) for index, name in enumerate((*ACTION_NAMES, "tag"))])
LASER_TAG_ACTIONS: tuple[str, ...] = tuple(action.name for action in LaserTagAction)
TAG_ACTION = LaserTagAction.tag
MAX_BOTS = 4
MAX_TAG_PENALTY = 1e6
TAG_REWARD = 1.0
RESPAWN_MIN_CELLS = 2  # a respawned agent or bot starts at least this many maze steps from its opponents
PROCEDURAL_SKILL_RANGE = (0.1, 0.9)


@dataclass
class FloorPlan(GridMaze):
    """A grid maze in which some cells are solid (no room): the hand-designed maps' shapes."""

    solid: frozenset[Cell] = frozenset()

    @property
    def cells(self) -> list[Cell]:
        return [cell for cell in super().cells if cell not in self.solid]

    def neighbours(self, cell: Cell) -> list[Cell]:
        return [n for n in super().neighbours(cell) if n not in self.solid]

    def is_connected(self, closed: Any = ()) -> bool:
        return len(self.distances(self.cells[0], closed)) == len(self.cells)


def floor_plan(rows: int, cols: int, cell_size: float, solid: set[Cell], walls: set[tuple[Cell, Cell]]) -> FloorPlan:
    """A plan with every edge between two floor cells open, except ``walls``."""
    plan = FloorPlan(rows, cols, cell_size, cell_size, solid=frozenset(solid))
    plan.open_edges = {edge(c, n) for c in plan.cells for n in plan.neighbours(c)} - {edge(*w) for w in walls}
    if not plan.is_connected():
        raise ValueError("A laser-tag floor plan must connect all its floor cells.")
    return plan


def chasm_plan() -> FloorPlan:
    """Two open halves split by a chasm (a column of solid cells) crossed by two bridges."""
    return floor_plan(5, 7, 3.0, solid={(0, 3), (2, 3), (4, 3)}, walls=set())


def hallway_plan() -> FloorPlan:
    """A long straight hallway (the middle row) with alcoves off both sides."""
    alcoves = {(0, 1), (0, 4), (0, 7), (2, 2), (2, 5), (2, 8)}
    solid = {(r, c) for r in (0, 2) for c in range(10)} - alcoves
    return floor_plan(3, 10, 2.5, solid=solid, walls=set())


def horseshoe_plan() -> FloorPlan:
    """A U-shaped corridor around a solid block: the two arms cannot see each other."""
    return floor_plan(5, 5, 2.5, solid={(r, c) for r in range(4) for c in (1, 2, 3)}, walls=set())


def arena_plan() -> FloorPlan:
    """An open arena with two short walls in the middle for cover."""
    return floor_plan(4, 4, 3.5, solid=set(), walls={((1, 1), (1, 2)), ((2, 1), (2, 2))})


def procedural_plan(size: int) -> Callable[[np.random.Generator], GridMaze]:
    """A new ``size x size`` corridor maze (2.5 m corridors, some loops) for every episode."""

    def generate(rng: np.random.Generator) -> GridMaze:
        return generate_maze(size, size, rng, cell_size=2.5, loop_fraction=0.25)

    return generate


@dataclass(frozen=True)
class LaserTagLevel:
    """One level: its map, its bots (fixed skills and colours, or ``None`` = drawn every episode) and look."""

    name: str
    make_map: Callable[[np.random.Generator], GridMaze]
    procedural_map: bool
    num_bots: int
    skills: tuple[float, ...] | None
    colors: tuple[str, ...] | None
    wall_tex: str
    floor_tex: str


def _fixed(plan: Callable[[], FloorPlan]) -> Callable[[np.random.Generator], GridMaze]:
    built = plan()
    return lambda rng: built


LEVELS: tuple[LaserTagLevel, ...] = (
    LaserTagLevel("chasm", _fixed(chasm_plan), False, 2, (0.3, 0.6), ("red", "blue"), "rock", "asphalt"),
    LaserTagLevel("hallway", _fixed(hallway_plan), False, 1, (0.5,), ("red",), "drywall", "floor_tiles_bw"),
    LaserTagLevel("horseshoe", _fixed(horseshoe_plan), False, 2, None, None, "brick_wall", "concrete"),
    LaserTagLevel("arena", _fixed(arena_plan), False, 3, None, None, "metal_grill", "marble"),
    LaserTagLevel("maze_small_1bot", procedural_plan(5), True, 1, (0.4,), ("red",), "cinder_blocks", "grass"),
    LaserTagLevel("maze_small_3bots", procedural_plan(5), True, 3, None, None, "wood_planks", "wood"),
    LaserTagLevel("maze_large_1bot", procedural_plan(8), True, 1, (0.6,), ("red",), "stucco", "cardboard"),
    LaserTagLevel("maze_large_3bots", procedural_plan(8), True, 3, None, None, "concrete", "slime"),
)


class MultiLaserTagEnv(MultiTaskMiniWorldEnv):
    """
    ## Description
    Eight first-person laser-tag levels on MiniWorld, an analogue of the DeepMind Lab laser-tag task
    set of Distral (Teh et al. 2017, section 4.2, "Laser-tag"): the agent tags bots driven by a
    built-in AI. Levels differ by fixed vs procedurally generated maps, fixed vs procedural bots
    (colours and skills drawn every episode) and how strong and how many the bots are.

    ## Tasks
    Fixed maps: ``chasm`` (0; two open halves joined by two bridges, 2 fixed bots of skill 0.3 and
    0.6), ``hallway`` (1; a long hallway with alcoves, 1 fixed bot of skill 0.5), ``horseshoe`` (2;
    a U-shaped corridor, 2 procedural bots), ``arena`` (3; an open arena with cover walls, 3
    procedural bots). Procedural maps (a new maze every episode): ``maze_small_1bot`` (4; 5x5 cells,
    1 fixed bot of skill 0.4), ``maze_small_3bots`` (5; 5x5, 3 procedural bots), ``maze_large_1bot``
    (6; 8x8, 1 fixed bot of skill 0.6), ``maze_large_3bots`` (7; 8x8, 3 procedural bots).
    Procedural bots draw their colour from red, blue, yellow, purple and their skill uniformly
    from [0.1, 0.9].

    Bots (see :mod:`mtenvs.miniworld.bots`) wander between cells, chase the agent when they see it,
    hunt where they last saw it, flee when shot at and missed, and tag back after a reaction delay
    with an accuracy that grow with skill.

    ## Action Space
    ``Discrete(7)``: the MiniWorld families' six actions (0 turn left 30°, 1 turn right, 2 move
    forward 0.5 m, 3 move back, 4 strafe left, 5 strafe right) plus 6 ``tag``. A tag fires a ray
    at the nearest bot within 15° of the agent's heading (half a turn step, so any bot in sight can
    be aimed at) and 20 m, unless a wall is in the way; after a shot the tag recharges for 4 steps
    (a tag while recharging does nothing).

    ## Observation Space
    ``Box(0, 255, (60, 80, 3), uint8)``: the agent's first-person RGB view.

    ## Rewards
    +1 for each bot tagged; ``-tag_penalty`` (default 1) each time a bot tags the agent. Whoever is
    tagged respawns at once, at least 2 maze steps from its opponents and, where the map allows, in
    a cell whose centre they cannot see.

    ## Starting State
    A random free spot for the agent, facing a multiple of 30°; bots at random spots placed as
    respawns are (away from the agent and out of its sight where the map allows).

    ## Episode End
    Fixed length: truncated after ``episode_steps`` steps (900 = 60 s at 15 actions per
    second). Never terminated.
    ``episode_steps=[...]`` (one entry per task, in task order) gives each task its own limit.

    ## Info
    ``task_id``; this step: ``tag_fired``, ``tag_hit``, ``was_tagged``; this episode: ``tags``
    (bots tagged) and ``times_tagged``.

    ## Arguments
    ```python
    gym.make("MultiLaserTag-v0", num_bots=None, bot_skill=None, tag_penalty=1.0, episode_steps=900,
             task_schedule="uniform", task=None, task_obs=False, render_mode=None)
    ```
    ``num_bots`` (1..4) and ``bot_skill`` (0..1) override every level's bot count and skills;
    ``None`` keeps each level's own. ``tag_penalty`` is a finite number in [0, 10**6];
    ``episode_steps`` 1..10**6.

    ## Version History
    * v0: Initial version (MiniWorld 2.1). Later, without changing dynamics: a bool action
      (``step(True)``) raises ``TypeError`` (it played action 1); ``gym.make_vec`` defaults to
      ``vectorization="workers"`` (was ``"async"``; the same frames from the same seed).
    """

    actions = LaserTagAction
    action_names = LASER_TAG_ACTIONS

    def __init__(
        self,
        num_bots: int | None = None,
        bot_skill: float | None = None,
        tag_penalty: float = 1.0,
        episode_steps: int | list[int] = 900,
        task_schedule: str = "uniform",
        task: int | str | None = None,
        render_mode: str | None = None,
    ):
        self._init_kwargs = {
            "num_bots": num_bots, "bot_skill": bot_skill, "tag_penalty": tag_penalty,
            "episode_steps": episode_steps, "task_schedule": task_schedule, "task": task,
            "render_mode": render_mode,
        }  # fmt: skip
        ensure_json_kwargs(type(self).__name__, self._init_kwargs)
        if num_bots is not None:
            check_int("num_bots (None: each level's own)", num_bots, 1, MAX_BOTS)
        if bot_skill is not None:
            bot_skill = check_skill(bot_skill, "bot_skill")
        check_number("tag_penalty", tag_penalty, 0.0, MAX_TAG_PENALTY)
        self._init_tasks([level.name for level in LEVELS], task_schedule=task_schedule, task=task)
        self.num_bots_override = num_bots
        self.bot_skill_override = bot_skill
        self.tag_penalty = float(tag_penalty)
        self.bots: list[Bot] = []
        self._init_miniworld(episode_steps=episode_steps, render_mode=render_mode)

    @property
    def level(self) -> LaserTagLevel:
        """The current task's level."""
        return LEVELS[self.task_id]

    # ------------------------------------------------------------------ world

    def _gen_world(self) -> None:
        level = self.level
        self.maze: GridMaze = level.make_map(self.np_random)
        self.add_grid_maze(self.maze, wall_tex=level.wall_tex, floor_tex=level.floor_tex)
        self._ensure_static_data()
        self.walls = WallMap(self.wall_segs)
        self.agent.blocks_movement = True  # bots walk around the agent, not through it
        self.bots = [Bot(color, skill) for color, skill in self._draw_bots(level)]
        self.tags = 0
        self.times_tagged = 0
        self.tag_cooldown = 0
        self._events = {"tag_fired": False, "tag_hit": False, "was_tagged": False}
        self._spawn(self.agent, [])
        for bot in self.bots:
            self._spawn(bot, [self.agent])

    def _draw_bots(self, level: LaserTagLevel) -> list[tuple[str, float]]:
        count = self.num_bots_override or level.num_bots
        bots = []
        for index in range(count):
            if level.colors is None:
                color = BOT_COLORS[int(self.np_random.integers(len(BOT_COLORS)))]
                skill = float(self.np_random.uniform(*PROCEDURAL_SKILL_RANGE))
            else:
                color = level.colors[index % len(level.colors)]
                skill = level.skills[index % len(level.skills)]
            if self.bot_skill_override is not None:
                skill = self.bot_skill_override
            bots.append((color, skill))
        return bots

    def _spawn_cells(self, opponents: list[Any]) -> list[list[Cell]]:
        """Where someone facing ``opponents`` may (re)spawn, best first: cells out of their sight and at
        least :data:`RESPAWN_MIN_CELLS` maze steps away, then cells that are only far, then any cell."""
        near: set[Cell] = set()
        for opponent in opponents:
            distances = self.maze.distances(self.maze.nearest_cell(opponent.pos))
            near |= {cell for cell, d in distances.items() if d < RESPAWN_MIN_CELLS}
        far = [cell for cell in self.maze.cells if cell not in near]
        hidden = [
            cell
            for cell in far
            if not any(self.walls.clear(opponent.pos, self.maze.cell_center(cell)) for opponent in opponents)
        ]
        return [cells for cells in (hidden, far, self.maze.cells) if cells]

    def _spawn(self, ent: Any, opponents: list[Any]) -> None:
        """Put ``ent`` at a free spot of a cell from the best tier of :meth:`_spawn_cells` that has room."""
        if ent is self.agent:
            self.heading = int(self.np_random.integers(360 // TURN_STEP_DEGREES))
        direction = self._heading_radians() if ent is self.agent else None
        for cells in self._spawn_cells(opponents):
            try:
                self.place_in_cells(ent, self.maze, cells, dir=direction)
            except PlacementError:
                continue
            if isinstance(ent, Bot):
                ent.reset_mind()
            return
        raise PlacementError(f"No free spot for a {type(ent).__name__} anywhere on the map.")

    # ------------------------------------------------------------------ game logic

    def simulate(self, action: int) -> float:
        """One step of the game without drawing the observation; returns the reward.

        ``step`` is ``simulate`` plus rendering; tests and scripted agents use it to run fast.
        """
        if not self.action_space.contains(action):
            raise ValueError(f"Action {action!r} is outside the action space Discrete({self.action_space.n}).")
        self._check_can_step()
        self.step_count += 1
        self._apply_action(int(action))
        reward = self._task_step(int(action))
        self._end_step(self._terminated(), self.step_count >= self.max_episode_steps)
        return reward

    def _apply_action(self, action: int) -> None:
        self._events = {"tag_fired": False, "tag_hit": False, "was_tagged": False}
        self.tag_cooldown = max(0, self.tag_cooldown - 1)
        if action != TAG_ACTION:
            super()._apply_action(action)
            return
        if self.tag_cooldown > 0:
            return
        self.tag_cooldown = TAG_COOLDOWN
        self._events["tag_fired"] = True
        hit = tag_target(self.agent.pos, self.agent.dir, self.bots, self.walls)
        if hit is not None:
            self._events["tag_hit"] = True
            self._shot_bot = hit
            return
        for bot in self.bots:  # a near miss: bots shot at flee
            if sees(self.agent.pos, self.agent.dir, bot.pos, self.walls, NEAR_MISS_CONE):
                start_flight(bot, self.maze, self.agent.pos, self.np_random)

    def _task_step(self, action: int) -> float:
        reward = 0.0
        if self._events["tag_hit"]:
            reward += TAG_REWARD
            self.tags += 1
            self._spawn(self._shot_bot, [self.agent])
        for bot in self.bots:
            if step_bot(bot, self.agent, self.maze, self.walls, self.np_random, self._blocked):
                reward -= self.tag_penalty
                self.times_tagged += 1
                self._events["was_tagged"] = True
                self._spawn(self.agent, self.bots)
                for other in self.bots:
                    other.seen_steps = 0
                    other.last_seen = None
        return reward

    def _blocked(self, ent: Any, pos: np.ndarray) -> bool:
        """Would ``ent`` at ``pos`` overlap a wall, the agent or another bot? (The bots' collision test.)"""
        if self.walls.touches(pos, ent.radius):
            return True
        return any(
            other is not ent and planar_distance(other.pos, pos) < other.radius + ent.radius
            for other in (self.agent, *self.bots)
        )

    def _task_info(self) -> dict[str, Any]:
        return {**self._events, "tags": self.tags, "times_tagged": self.times_tagged}


def aim_and_tag_action(env: Any) -> int:
    """A scripted player: turn to face the nearest bot in line of sight and tag it; otherwise roam.

    Reads the env's state (no rendering): bots, walls, the agent's position and heading.
    """
    env = env.unwrapped
    agent = env.agent
    in_sight = [
        bot
        for bot in env.bots
        if planar_distance(agent.pos, bot.pos) <= TAG_RANGE and env.walls.clear(agent.pos, bot.pos)
    ]
    if in_sight:
        target = min(in_sight, key=lambda bot: planar_distance(agent.pos, bot.pos))
        error = angle_difference(heading_to(agent.pos, target.pos), agent.dir)
        if abs(error) <= AGENT_TAG_CONE:
            return int(TAG_ACTION)
        return int(LaserTagAction.turn_left if error > 0 else LaserTagAction.turn_right)
    ahead = agent.pos + agent.dir_vec * 1.0
    if env.intersect(agent, ahead, agent.radius):
        return int(LaserTagAction.turn_left)
    return int(LaserTagAction.move_forward)


make_multi_laser_tag = task_obs_entry_point(MultiLaserTagEnv, "make_multi_laser_tag")


def make_multi_laser_tag_vec(num_envs: int, **kwargs: Any) -> VectorEnv:
    """Vector entry point of ``MultiLaserTag-v0`` (see :func:`mtenvs.miniworld.make_miniworld_vec`)."""
    return make_miniworld_vec(MultiLaserTagEnv, num_envs, **kwargs)


__all__ = [
    "LASER_TAG_ACTIONS",
    "LEVELS",
    "LaserTagAction",
    "MultiLaserTagEnv",
    "aim_and_tag_action",
    "make_multi_laser_tag",
    "make_multi_laser_tag_vec",
]
