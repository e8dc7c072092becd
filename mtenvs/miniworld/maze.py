"""MultiMaze: 8 fixed mazes with random rewards and a random goal (Distral's DeepMind Lab maze tasks)."""

from __future__ import annotations

from typing import Any

import numpy as np
from miniworld.entity import Box, Entity

from mtenvs.core import ensure_json_kwargs
from mtenvs.miniworld.base import MAX_OBJECTS, MultiTaskMiniWorldEnv
from mtenvs.miniworld.layout import Cell, GridMaze, check_grid_size, generate_maze
from mtenvs.validation import check_int

# One look per task (wall texture, floor texture), so a network can tell the mazes apart.
MAZE_THEMES: tuple[tuple[str, str], ...] = (
    ("brick_wall", "asphalt"),
    ("cinder_blocks", "floor_tiles_bw"),
    ("wood_planks", "grass"),
    ("stucco", "marble"),
    ("metal_grill", "concrete"),
    ("drywall", "wood"),
    ("rock", "slime"),
    ("marble", "water"),
)
NUM_MAZE_TASKS = len(MAZE_THEMES)
MAZE_CELL_SIZE = 2.0  # metres: corridors 2 m wide, as DeepMind Lab's maze corridors
MAZE_LOOP_FRACTION = 0.15
REWARD_VALUE = 1.0
GOAL_VALUE = 10.0
TOUCH_MARGIN = 0.2  # metres between the agent's and an object's circles that still count as touching


def touching(agent: Entity, ent: Entity) -> bool:
    """True when the agent's circle comes within :data:`TOUCH_MARGIN` of ``ent``'s.

    The margin is below the wall gap (0.25 m), so nothing is ever touched through a wall.
    """
    return float(np.hypot(*(agent.pos - ent.pos)[[0, 2]])) < agent.radius + ent.radius + TOUCH_MARGIN


def reward_object() -> Box:
    """A small green box worth +1."""
    return Box(color="green", size=0.45)


def goal_object() -> Box:
    """A tall red box worth +10."""
    return Box(color="red", size=[0.6, 1.2, 0.6])


def far_cells(maze: GridMaze, goal_cell: Cell, closed: Any = (), min_distance: int = 2) -> list[Cell]:
    """Cells at least ``min_distance`` maze steps from the goal (the farthest ones if none are)."""
    distances = maze.distances(goal_cell, closed)
    far = [cell for cell, d in distances.items() if d >= min_distance]
    if not far:
        top = max(distances.values())
        far = [cell for cell, d in distances.items() if d == top]
    return sorted(far)


class MultiMazeEnv(MultiTaskMiniWorldEnv):
    """
    ## Description
    Eight first-person maze tasks on MiniWorld, an analogue of the DeepMind Lab maze task set of
    Distral (Teh et al. 2017, section 4.2, "Mazes"), where each of 8 tasks is a different maze with
    randomly placed rewards and a goal object, as in DeepMind Lab's ``nav_maze_random_goal`` levels.

    ## Tasks
    ``maze_0`` .. ``maze_7``: each a different maze layout of ``maze_size x maze_size`` cells
    (2 m corridors, some loops), fixed per task across episodes (drawn from ``layout_seed`` and the
    task id, not from the episode seed), with its own wall and floor textures.

    ## Action Space
    ``Discrete(6)``, shared by all MiniWorld families: 0 turn left (30°), 1 turn right, 2 move
    forward (0.5 m), 3 move back, 4 strafe left, 5 strafe right.

    ## Observation Space
    ``Box(0, 255, (60, 80, 3), uint8)``: the agent's first-person RGB view.

    ## Rewards
    +1 for touching a reward object (green box; it disappears), +10 for touching the goal (red box).

    ## Starting State
    Each episode places the goal in a random cell that no route between two other cells has to
    cross, ``num_rewards`` reward objects at random spots of the other cells, and the agent in a
    random cell at least 2 maze steps from the goal, facing a multiple of 30°.
    Reaching the goal respawns the agent the same way (same episode, same goal, same maze).

    ## Episode End
    Fixed length: truncated after ``episode_steps`` steps (900 = DeepMind Lab's 60 s at 15
    actions per second). Never terminated.
    ``episode_steps=[...]`` (one entry per task, in task order) gives each task its own limit.

    ## Info
    ``task_id``, ``goal_reached`` (this step), ``goals_reached`` and ``rewards_left`` (this episode).

    ## Arguments
    ```python
    gym.make("MultiMaze-v0", maze_size=7, num_rewards=8, layout_seed=0, episode_steps=900,
             task_schedule="uniform", task=None, task_obs=False, render_mode=None)
    ```
    ``render_mode="rgb_array"`` renders the first-person view beside a top-down map. Bounds, checked
    at construction: ``maze_size`` 2..16, ``num_rewards`` 0..256, ``episode_steps`` 1..10**6.

    ## Version History
    * v0: Initial version (MiniWorld 2.1). Later, without changing dynamics: a bool action
      (``step(True)``) raises ``TypeError`` (it played action 1); ``gym.make_vec`` defaults to
      ``vectorization="workers"`` (was ``"async"``; the same frames from the same seed).
    """

    def __init__(
        self,
        maze_size: int = 7,
        num_rewards: int = 8,
        layout_seed: int = 0,
        episode_steps: int | list[int] = 900,
        task_schedule: str = "uniform",
        task: int | str | None = None,
        render_mode: str | None = None,
    ):
        self._init_kwargs = {
            "maze_size": maze_size, "num_rewards": num_rewards, "layout_seed": layout_seed,
            "episode_steps": episode_steps, "task_schedule": task_schedule, "task": task,
            "render_mode": render_mode,
        }  # fmt: skip
        ensure_json_kwargs(type(self).__name__, self._init_kwargs)
        check_grid_size(type(self).__name__, maze_size, maze_size)
        check_int("num_rewards", num_rewards, 0, MAX_OBJECTS)
        check_int("layout_seed", layout_seed, 0)
        self._init_tasks([f"maze_{i}" for i in range(NUM_MAZE_TASKS)], task_schedule=task_schedule, task=task)
        self.num_rewards = num_rewards
        self.layouts = [
            generate_maze(
                maze_size,
                maze_size,
                np.random.default_rng([layout_seed, task_id]),
                cell_size=MAZE_CELL_SIZE,
                loop_fraction=MAZE_LOOP_FRACTION,
            )
            for task_id in range(NUM_MAZE_TASKS)
        ]
        self._goal_cells = [layout.bypassable_cells() for layout in self.layouts]
        self._init_miniworld(episode_steps=episode_steps, render_mode=render_mode)

    @property
    def maze(self) -> GridMaze:
        """The current task's maze."""
        return self.layouts[self.task_id]

    def _gen_world(self) -> None:
        wall_tex, floor_tex = MAZE_THEMES[self.task_id]
        self.add_grid_maze(self.maze, wall_tex=wall_tex, floor_tex=floor_tex)
        cells = self.maze.cells
        # The goal never blocks a corridor: no reward lies where only a route through the goal leads.
        goal_cells = self._goal_cells[self.task_id]
        self.goal_cell = goal_cells[int(self.np_random.integers(len(goal_cells)))]
        self.goal = self.place_in_cell(goal_object(), self.maze, self.goal_cell)
        self._spawn_agent()
        self.reward_objects: list[Entity] = []
        reward_cells = [cell for cell in cells if cell != self.goal_cell]
        for _ in range(self.num_rewards):
            self.reward_objects.append(self.place_in_cells(reward_object(), self.maze, reward_cells))
        self.goals_reached = 0
        self._goal_reached = False

    def _spawn_agent(self) -> None:
        self.place_agent_in_cell(self.maze, far_cells(self.maze, self.goal_cell))

    def _task_step(self, action: int) -> float:
        reward = 0.0
        for ent in [e for e in self.reward_objects if touching(self.agent, e)]:
            self.reward_objects.remove(ent)
            self.entities.remove(ent)
            reward += REWARD_VALUE
        self._goal_reached = touching(self.agent, self.goal)
        if self._goal_reached:
            reward += GOAL_VALUE
            self.goals_reached += 1
            self._spawn_agent()
        return reward

    def _task_info(self) -> dict[str, Any]:
        return {
            "goal_reached": self._goal_reached,
            "goals_reached": self.goals_reached,
            "rewards_left": len(self.reward_objects),
        }

    def oracle_targets(self) -> list[np.ndarray]:
        """Where the scripted oracle should head: the reward objects, then the goal."""
        return [ent.pos for ent in self.reward_objects or [self.goal]]

    def oracle_avoid(self) -> set:
        """Maze edges the oracle should not cross: into the goal's cell while rewards are left."""
        return self.maze.edges_of(self.goal_cell) if self.reward_objects else set()
