"""Laser-tag mechanics for MultiLaserTag: line-of-sight rays and bots with a built-in AI (no OpenGL here).

Everything here works on positions, headings and the world's wall segments, so tests step the
game logic without rendering.

Conventions (MiniWorld's): positions are ``[x, y, z]`` with the floor at ``y = 0``; a heading
``theta`` (radians) points along ``(cos theta, 0, -sin theta)``.

A bot's AI, every step:

* **flee** for :data:`FLEE_STEPS` steps after being shot at and missed (a near miss): run along
  the maze to a cell far from the agent, without firing;
* otherwise **chase** while it sees the agent (in its field of view, no wall in between): turn
  towards it at its turn rate, close in to :data:`CHASE_DISTANCE`, and **tag** once it has seen the
  agent for its reaction delay, is aimed within :data:`BOT_AIM_TOLERANCE` and its gun has cooled
  down; the shot hits with the bot's accuracy;
* otherwise **hunt** the agent's last seen position, or **wander** to a random cell.

Skill (0 to 1) sets speed, turn rate, reaction delay and accuracy (:class:`SkillProfile`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from miniworld.entity import Box, Entity

from mtenvs.miniworld.layout import GridMaze, edge
from mtenvs.validation import check_number

MIN_SKILL = 0.0
MAX_SKILL = 1.0
BOT_SIZE = (0.6, 1.5, 0.6)  # metres (x, height, z): radius 0.42 m, a little taller than the agent's camera
BOT_COLORS = ("red", "blue", "yellow", "purple")
TAG_RANGE = 20.0  # metres a tag ray reaches
TAG_COOLDOWN = 4  # steps between two shots, for the agent and every bot
AGENT_TAG_CONE = math.radians(15)  # half the agent's 30° turn step: every visible bot can be aimed at
BOT_AIM_TOLERANCE = math.radians(8)
BOT_FIELD_OF_VIEW = math.radians(60)  # half-angle
NEAR_MISS_CONE = math.radians(45)  # a shot passing this close (in angle) to a bot makes it flee
FLEE_STEPS = 15
CHASE_DISTANCE = 3.0  # metres: a chasing bot stops closing in here
ARRIVAL_DISTANCE = 0.15  # metres from a waypoint that count as reaching it
MIN_MOVE = 0.01  # metres: shorter moves (e.g. a slide along a wall the bot faces head-on) do not count
STUCK_STEPS = 4  # steps without progress after which a bot gives up its route


def heading_to(source: np.ndarray, target: np.ndarray) -> float:
    """The heading (radians) that points from ``source`` towards ``target``."""
    return math.atan2(-(float(target[2]) - float(source[2])), float(target[0]) - float(source[0]))


def angle_difference(a: float, b: float) -> float:
    """``a - b`` wrapped into ``[-pi, pi)``."""
    return (a - b + math.pi) % (2 * math.pi) - math.pi


def planar_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between two positions on the floor plane."""
    return math.hypot(float(a[0]) - float(b[0]), float(a[2]) - float(b[2]))


class WallMap:
    """The world's wall segments, flattened to the floor plane, for line-of-sight tests."""

    def __init__(self, wall_segments: np.ndarray):
        segments = np.asarray(wall_segments, dtype=float).reshape(-1, 2, 3)[:, :, [0, 2]]
        self.starts = segments[:, 0]
        self.directions = segments[:, 1] - segments[:, 0]
        self.squared_lengths = np.maximum(np.sum(self.directions**2, axis=1), 1e-12)

    def touches(self, pos: np.ndarray, radius: float) -> bool:
        """True when a circle of ``radius`` at ``pos`` overlaps a wall (as MiniWorld's collision test)."""
        offsets = np.array([pos[0], pos[2]], dtype=float) - self.starts
        along = np.clip(np.sum(offsets * self.directions, axis=1) / self.squared_lengths, 0.0, 1.0)
        gaps = offsets - along[:, None] * self.directions
        return bool(np.any(np.sum(gaps * gaps, axis=1) < radius * radius))

    def clear(self, start: np.ndarray, end: np.ndarray) -> bool:
        """True when the straight line from ``start`` to ``end`` crosses no wall (touching one counts as crossing)."""
        p = np.array([start[0], start[2]], dtype=float)
        r = np.array([end[0], end[2]], dtype=float) - p
        q_minus_p = self.starts - p
        s = self.directions
        denominator = r[0] * s[:, 1] - r[1] * s[:, 0]
        parallel = np.abs(denominator) < 1e-12
        safe = np.where(parallel, 1.0, denominator)
        t = (q_minus_p[:, 0] * s[:, 1] - q_minus_p[:, 1] * s[:, 0]) / safe  # along the line of sight
        u = (q_minus_p[:, 0] * r[1] - q_minus_p[:, 1] * r[0]) / safe  # along the wall
        crossing = ~parallel & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
        return not bool(crossing.any())


def tag_target(
    shooter_pos: np.ndarray,
    shooter_dir: float,
    targets: Sequence[Entity],
    walls: WallMap,
    cone: float = AGENT_TAG_CONE,
    max_range: float = TAG_RANGE,
) -> Entity | None:
    """The target a tag ray fired from ``shooter_pos`` along ``shooter_dir`` hits, or ``None``.

    The ray hits the nearest target within ``cone`` radians of the firing direction and
    ``max_range`` metres whose line of sight crosses no wall: walls always stop a ray.
    """
    hits = []
    for target in targets:
        distance = planar_distance(shooter_pos, target.pos)
        if distance > max_range:
            continue
        if abs(angle_difference(heading_to(shooter_pos, target.pos), shooter_dir)) > cone:
            continue
        if walls.clear(shooter_pos, target.pos):
            hits.append((distance, target))
    return min(hits, key=lambda hit: hit[0])[1] if hits else None


def sees(viewer_pos: np.ndarray, viewer_dir: float, target_pos: np.ndarray, walls: WallMap, half_fov: float) -> bool:
    """True when ``target_pos`` is within ``half_fov`` of the viewer's heading and range, with no wall in between."""
    if planar_distance(viewer_pos, target_pos) > TAG_RANGE:
        return False
    if abs(angle_difference(heading_to(viewer_pos, target_pos), viewer_dir)) > half_fov:
        return False
    return walls.clear(viewer_pos, target_pos)


def check_skill(skill: float, what: str = "skill") -> float:
    """Return ``skill`` as a float; raise ``ValueError`` unless it is a number in ``[MIN_SKILL, MAX_SKILL]``."""
    return check_number(what, skill, MIN_SKILL, MAX_SKILL)


@dataclass(frozen=True)
class SkillProfile:
    """What a bot's skill (0 = weakest, 1 = strongest) means in numbers."""

    speed: float  # metres per step (the agent moves 0.5)
    turn_rate: float  # radians per step
    reaction_steps: int  # steps the agent must be in sight before the bot fires
    accuracy: float  # probability that an aimed shot hits

    @classmethod
    def from_skill(cls, skill: float) -> SkillProfile:
        skill = check_skill(skill)
        return cls(
            speed=0.15 + 0.2 * skill,
            turn_rate=math.radians(10 + 30 * skill),
            reaction_steps=round(10 - 8 * skill),
            accuracy=0.1 + 0.8 * skill,
        )


class Bot(Box):
    """A laser-tag opponent: a coloured box that moves, blocks movement and runs the built-in AI."""

    blocks_movement = True

    def __init__(self, color: str, skill: float):
        if color not in BOT_COLORS:
            raise ValueError(f"Unknown bot color {color!r}; valid colors: {', '.join(BOT_COLORS)}.")
        super().__init__(color=color, size=list(BOT_SIZE))
        self.skill = check_skill(skill, "bot skill")
        self.profile = SkillProfile.from_skill(self.skill)
        if self.profile.speed >= self.radius:
            raise ValueError("A bot step must be shorter than its radius, or it could pass through thin walls.")
        self.reset_mind()

    def reset_mind(self) -> None:
        """Forget the route, the agent and the timers (at spawn)."""
        self.route: list[np.ndarray] = []
        self.last_seen: np.ndarray | None = None
        self.seen_steps = 0
        self.cooldown = 0
        self.flee_steps = 0
        self.stuck_steps = 0

    @property
    def mode(self) -> str:
        """``"flee"``, ``"chase"`` (agent in sight), ``"hunt"`` (going where it was last seen) or ``"wander"``."""
        if self.flee_steps > 0:
            return "flee"
        if self.seen_steps > 0:
            return "chase"
        return "hunt" if self.last_seen is not None else "wander"


Blocked = Callable[[Entity, np.ndarray], bool]


def route_to(maze: GridMaze, start: np.ndarray, goal_pos: np.ndarray) -> list[np.ndarray]:
    """Waypoints from ``start`` to ``goal_pos``: the middle of each opening on the way, then the goal.

    Cells are convex and openings at least a bot wide, so each leg is a straight walk inside one cell.
    """
    cells = maze.shortest_path(maze.nearest_cell(start), maze.nearest_cell(goal_pos))
    if cells is None:
        return []
    openings = [maze.opening_center(edge(a, b)) for a, b in itertools.pairwise(cells)]
    return [*openings, np.asarray(goal_pos, dtype=float).copy()]


def start_flight(bot: Bot, maze: GridMaze, agent_pos: np.ndarray, rng: np.random.Generator) -> None:
    """Make ``bot`` flee: run to one of the cells farthest (in maze steps) from the agent."""
    distances = maze.distances(maze.nearest_cell(agent_pos))
    farthest = max(distances.values())
    cells = sorted(cell for cell, d in distances.items() if d >= farthest - 1)
    goal = maze.cell_center(cells[int(rng.integers(len(cells)))])
    bot.flee_steps = FLEE_STEPS
    bot.seen_steps = 0
    bot.last_seen = None
    bot.route = route_to(maze, bot.pos, goal)


def step_bot(
    bot: Bot, agent: Entity, maze: GridMaze, walls: WallMap, rng: np.random.Generator, blocked: Blocked
) -> bool:
    """Advance ``bot`` by one step of its AI; return True when it tags the agent."""
    bot.cooldown = max(0, bot.cooldown - 1)
    if bot.flee_steps > 0:
        bot.flee_steps -= 1
        _follow_route(bot, maze, rng, blocked)
        return False
    if sees(bot.pos, bot.dir, agent.pos, walls, BOT_FIELD_OF_VIEW):
        bot.seen_steps += 1
        bot.last_seen = agent.pos.copy()
        bot.route = []
        aim_error = _turn_towards(bot, agent.pos)
        if planar_distance(bot.pos, agent.pos) > CHASE_DISTANCE:
            _move_towards(bot, agent.pos, bot.profile.speed, blocked)
        if bot.seen_steps >= bot.profile.reaction_steps and bot.cooldown == 0 and abs(aim_error) <= BOT_AIM_TOLERANCE:
            bot.cooldown = TAG_COOLDOWN
            return bool(rng.random() < bot.profile.accuracy)
        return False
    bot.seen_steps = 0
    if not bot.route and bot.last_seen is not None:
        bot.route = route_to(maze, bot.pos, bot.last_seen)
        bot.last_seen = None
    _follow_route(bot, maze, rng, blocked)
    return False


def _follow_route(bot: Bot, maze: GridMaze, rng: np.random.Generator, blocked: Blocked) -> None:
    if not bot.route:
        cells = maze.cells
        bot.route = route_to(maze, bot.pos, maze.cell_center(cells[int(rng.integers(len(cells)))]))
    while bot.route and planar_distance(bot.pos, bot.route[0]) <= ARRIVAL_DISTANCE:
        bot.route.pop(0)
    if not bot.route:
        return
    waypoint = bot.route[0]
    if abs(_turn_towards(bot, waypoint)) > math.radians(60):
        return  # turn on the spot first
    if _move_towards(bot, waypoint, bot.profile.speed, blocked):
        bot.stuck_steps = 0
        return
    bot.stuck_steps += 1
    if bot.stuck_steps >= STUCK_STEPS:
        bot.route = []  # blocked (by the agent or another bot): pick a new destination
        bot.stuck_steps = 0


def _turn_towards(bot: Bot, target: np.ndarray) -> float:
    """Turn by at most the bot's turn rate towards ``target``; return the aim error left (radians)."""
    error = angle_difference(heading_to(bot.pos, target), bot.dir)
    turn = max(-bot.profile.turn_rate, min(bot.profile.turn_rate, error))
    bot.dir = angle_difference(bot.dir + turn, 0.0)
    return error - turn


def _move_towards(bot: Bot, target: np.ndarray, step: float, blocked: Blocked) -> bool:
    """Step straight towards ``target`` (sliding along a wall if the straight step is blocked); True if moved."""
    delta = np.asarray(target, dtype=float) - bot.pos
    delta[1] = 0.0
    distance = float(np.hypot(delta[0], delta[2]))
    if distance < 1e-9:
        return False
    move = delta * (min(step, distance) / distance)
    slide_x = np.array([move[0], 0.0, 0.0])
    slide_z = np.array([0.0, 0.0, move[2]])
    for candidate in (move, slide_x, slide_z):
        if np.hypot(candidate[0], candidate[2]) >= MIN_MOVE and not blocked(bot, bot.pos + candidate):
            bot.pos = bot.pos + candidate
            return True
    return False
