"""MultiNav: 4 navigation tasks on mazes generated anew every episode (Distral's DeepMind Lab navigation set)."""

from __future__ import annotations

from typing import Any

import numpy as np
from miniworld.entity import Box, Entity

from mtenvs.core import ensure_json_kwargs
from mtenvs.miniworld.base import MAX_EPISODE_STEPS, MAX_OBJECTS, MultiTaskMiniWorldEnv
from mtenvs.miniworld.layout import GridMaze, check_grid_size, generate_maze
from mtenvs.miniworld.maze import GOAL_VALUE, REWARD_VALUE, far_cells, goal_object, reward_object, touching
from mtenvs.validation import check_int, check_number

NAV_TASKS: tuple[str, ...] = ("collect", "carry_back", "find_goal", "find_goal_doors")
NAV_THEMES: tuple[tuple[str, str], ...] = (
    ("concrete", "rock"),
    ("wood", "cardboard"),
    ("brick_wall", "grass"),
    ("cinder_blocks", "asphalt"),
)
NAV_CELL_SIZE = 3.0  # metres: rooms joined by doorways
NAV_DOORWAY_WIDTH = 1.5
NAV_LOOP_FRACTION = 0.3  # extra openings, so closing doors can leave other routes open
DELIVERY_DISTANCE = 1.0  # metres from the start position at which a carried object counts
DELIVERY_VALUE = 1.0


def carry_object() -> Box:
    """A blue box to pick up (by touching it) and bring back to the start position."""
    return Box(color="blue", size=0.45)


def start_pad() -> Box:
    """A flat purple square on the floor that marks the start position of ``carry_back``."""
    return Box(color="purple", size=[1.2, 0.02, 1.2])


class MultiNavEnv(MultiTaskMiniWorldEnv):
    """
    ## Description
    Four first-person navigation tasks on MiniWorld, an analogue of the DeepMind Lab navigation task
    set of Distral (Teh et al. 2017, section 4.2, "Navigation"). Unlike MultiMaze, the maze (rooms
    joined by doorways, with loops) is generated anew every episode.

    ## Tasks
    * ``collect`` (0): ``num_objects`` reward objects (+1) at random spots; when all are collected
      the level refills with new ones.
    * ``carry_back`` (1): ``num_objects`` blue boxes. Touching one picks it up (one at a time); it
      is worth +1 only when carried back to the start position (a purple pad), where it is
      delivered. The level refills when all are delivered.
    * ``find_goal`` (2): one goal (+10). After each find the agent restarts at a random spot at
      least 2 rooms from the goal; goal and maze stay fixed for the episode.
    * ``find_goal_doors`` (3): like ``find_goal``, but a door in every doorway; every
      ``door_period`` steps each door is closed with probability ``door_close_prob`` or opened,
      always leaving every room (so the goal) reachable.

    ## Action Space
    ``Discrete(6)``, shared by all MiniWorld families: 0 turn left (30°), 1 turn right, 2 move
    forward (0.5 m), 3 move back, 4 strafe left, 5 strafe right.

    ## Observation Space
    ``Box(0, 255, (60, 80, 3), uint8)``: the agent's first-person RGB view.

    ## Rewards
    ``collect`` +1 per object, ``carry_back`` +1 per delivered object, ``find_goal`` and
    ``find_goal_doors`` +10 per goal found.

    ## Starting State
    A new ``maze_size x maze_size`` maze every episode; the agent in a random spot, facing a
    multiple of 30°.

    ## Episode End
    Fixed length: truncated after ``episode_steps`` steps. Never terminated.
    ``episode_steps=[...]`` (one entry per task, in task order) gives each task its own limit.

    ## Info
    ``task_id``, ``score_events`` (objects collected / delivered or goals found this episode),
    ``carrying`` (``carry_back``), ``doors_closed`` (``find_goal_doors``).

    ## Arguments
    ```python
    gym.make("MultiNav-v0", maze_size=5, num_objects=6, door_period=20, door_close_prob=0.4,
             episode_steps=900, task_schedule="uniform", task=None, task_obs=False,
             render_mode=None)
    ```
    Bounds, checked at construction: ``maze_size`` 2..16, ``num_objects`` 1..256, ``door_period``
    and ``episode_steps`` 1..10**6, ``door_close_prob`` in [0, 1].

    ## Version History
    * v0: Initial version (MiniWorld 2.1). Later, without changing dynamics: a bool action
      (``step(True)``) raises ``TypeError`` (it played action 1); ``gym.make_vec`` defaults to
      ``vectorization="workers"`` (was ``"async"``; the same frames from the same seed).
    """

    def __init__(
        self,
        maze_size: int = 5,
        num_objects: int = 6,
        door_period: int = 20,
        door_close_prob: float = 0.4,
        episode_steps: int | list[int] = 900,
        task_schedule: str = "uniform",
        task: int | str | None = None,
        render_mode: str | None = None,
    ):
        self._init_kwargs = {
            "maze_size": maze_size, "num_objects": num_objects, "door_period": door_period,
            "door_close_prob": door_close_prob, "episode_steps": episode_steps,
            "task_schedule": task_schedule, "task": task, "render_mode": render_mode,
        }  # fmt: skip
        ensure_json_kwargs(type(self).__name__, self._init_kwargs)
        check_grid_size(type(self).__name__, maze_size, maze_size)
        check_int("num_objects", num_objects, 1, MAX_OBJECTS)
        check_int("door_period", door_period, 1, MAX_EPISODE_STEPS)
        check_number("door_close_prob", door_close_prob, 0.0, 1.0)
        self._init_tasks(NAV_TASKS, task_schedule=task_schedule, task=task)
        self.maze_size = maze_size
        self.num_objects = num_objects
        self.door_period = door_period
        self.door_close_prob = float(door_close_prob)
        self._init_miniworld(episode_steps=episode_steps, render_mode=render_mode)

    @property
    def task_name(self) -> str:
        return self.task_names[self.task_id]

    def _gen_world(self) -> None:
        self.maze: GridMaze = generate_maze(
            self.maze_size,
            self.maze_size,
            self.np_random,
            cell_size=NAV_CELL_SIZE,
            opening_width=NAV_DOORWAY_WIDTH,
            loop_fraction=NAV_LOOP_FRACTION,
        )
        wall_tex, floor_tex = NAV_THEMES[self.task_id]
        self.add_grid_maze(self.maze, wall_tex=wall_tex, floor_tex=floor_tex)
        self.score_events = 0
        self.objects: list[Entity] = []
        self.goal: Entity | None = None
        self.start_pos: np.ndarray | None = None
        if self.task_name in ("find_goal", "find_goal_doors"):
            self.goal_cell = self._random_cell()
            self.goal = self.place_in_cell(goal_object(), self.maze, self.goal_cell)
            if self.task_name == "find_goal_doors":
                for e in sorted(self.maze.open_edges):
                    self.add_door(self.maze, e)
            self._spawn_away_from_goal()
            if self.doors:
                self._shuffle_doors()
        else:
            self.place_agent_in_cell(self.maze, self._random_cell())
            if self.task_name == "carry_back":
                self.start_pos = self.agent.pos.copy()
                self.place_entity(start_pad(), pos=self.start_pos, dir=0.0)
            self._refill()

    def _random_cell(self):
        return self.maze.cells[int(self.np_random.integers(len(self.maze.cells)))]

    def _spawn_away_from_goal(self) -> None:
        self.place_agent_in_cell(self.maze, far_cells(self.maze, self.goal_cell, self.closed_edges()))

    def _refill(self) -> None:
        make = reward_object if self.task_name == "collect" else carry_object
        for _ in range(self.num_objects):
            self.objects.append(self.place_in_cells(make(), self.maze, self.maze.cells))

    def _shuffle_doors(self) -> None:
        """Close each door with probability ``door_close_prob`` unless that cuts a room off or hits the agent."""
        for door in self.doors:
            door.closed = False
        for index in self.np_random.permutation(len(self.doors)):
            door = self.doors[int(index)]
            if self.np_random.random() >= self.door_close_prob:
                continue
            door.closed = True
            if not self.maze.is_connected(self.closed_edges()) or self._hits_wall(self.agent.pos, self.agent.radius):
                door.closed = False

    def _task_step(self, action: int) -> float:
        reward = 0.0
        if self.task_name == "collect":
            for ent in [e for e in self.objects if touching(self.agent, e)]:
                self.objects.remove(ent)
                self.entities.remove(ent)
                reward += REWARD_VALUE
                self.score_events += 1
            if not self.objects:
                self._refill()
        elif self.task_name == "carry_back":
            reward += self._carry_step()
        else:
            if touching(self.agent, self.goal):
                reward += GOAL_VALUE
                self.score_events += 1
                self._spawn_away_from_goal()
            if self.doors and self.step_count % self.door_period == 0:
                self._shuffle_doors()
        return reward

    def _carry_step(self) -> float:
        agent = self.agent
        if agent.carrying is None:
            for ent in self.objects:
                if touching(agent, ent):
                    agent.carrying = ent
                    break
        carried = agent.carrying
        if carried is None:
            return 0.0
        if float(np.hypot(*(agent.pos - self.start_pos)[[0, 2]])) < DELIVERY_DISTANCE:
            agent.carrying = None
            self.objects.remove(carried)
            self.entities.remove(carried)
            self.score_events += 1
            if not self.objects:
                self._refill()
            return DELIVERY_VALUE
        # Held in front of the camera, below eye level.
        carried.pos = agent.pos + agent.dir_vec * (agent.radius + carried.radius) + np.array([0.0, 0.6, 0.0])
        carried.dir = agent.dir
        return 0.0

    def _task_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"score_events": self.score_events}
        if self.task_name == "carry_back":
            info["carrying"] = self.agent.carrying is not None
        if self.task_name == "find_goal_doors":
            info["doors_closed"] = len(self.closed_edges())
        return info

    def oracle_targets(self) -> list[np.ndarray]:
        """Where the scripted oracle should head: objects, the start position while carrying, or the goal."""
        if self.goal is not None:
            return [self.goal.pos]
        if self.agent.carrying is not None:
            return [self.start_pos]
        return [ent.pos for ent in self.objects]
