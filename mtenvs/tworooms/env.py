"""TwoRooms: Distral's two-room grid world (Teh et al. 2017, section 4.1), one env."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from mtenvs.core import MultiTaskEnv, ensure_json_kwargs
from mtenvs.tworooms.dynamics import TwoRoomsBatch, observation_space
from mtenvs.tworooms.layout import (
    ACTION_NAMES,
    DEFAULT_CORRIDOR_LENGTH,
    DEFAULT_ROOM_SIZE,
    NUM_ACTIONS,
    TwoRoomsLayout,
    build_layout,
)
from mtenvs.validation import check_action, check_int, check_number

DEFAULT_MAX_STEPS = 100
MAX_MAX_STEPS = 1_000_000
MAX_ABS_REWARD = 1e6  # keeps returns over the longest episode finite in float32


def check_episode_options(max_steps: int, goal_reward: float, step_reward: float) -> None:
    """Validate the episode arguments shared by the single and batched envs."""
    check_int("max_steps", max_steps, 1, MAX_MAX_STEPS)
    check_number("goal_reward", goal_reward, -MAX_ABS_REWARD, MAX_ABS_REWARD)
    check_number("step_reward", step_reward, -MAX_ABS_REWARD, MAX_ABS_REWARD)


class TwoRoomsEnv(MultiTaskEnv):
    """
    ## Description
    Distral's two-room grid world (Teh et al. 2017, section 4.1, after Fox et al. 2016): two
    square rooms joined by a corridor. Each task hides a goal in a different cell; the agent starts
    anywhere and must walk to the goal, which the observation does not show. What transfers between
    tasks is how to move through the map, above all through the corridor: the tabular Distral
    experiment (``baselines/distral_tabular.py``) learns a distilled policy that keeps going in
    the same direction along it.

    The default map (``room_size=5``, ``corridor_length=5``), ``#`` wall, ``.`` room, ``=`` corridor::

        #################
        #.....#####.....#
        #.....#####.....#
        #.....=====.....#
        #.....#####.....#
        #.....#####.....#
        #################

    ## Tasks
    One task per goal cell, named ``goal_<row>_<col>``. By default ``num_tasks=8`` distinct room
    cells (never corridor cells) drawn with ``numpy.random.default_rng(task_seed)`` (``task_seed``
    0 when not given) when the env is built, so every env made with the same arguments has the same
    task set. ``goals=[[row, col], ...]`` sets them explicitly (any free cell); then nothing is
    drawn, and ``task_seed`` is refused rather than ignored.

    ## Action Space
    ``Discrete(4)``: 0 up, 1 right, 2 down, 3 left. A move into a wall leaves the agent in place.

    ## Observation Space
    Distral's state: the map location, the previous action and the previous reward, as float32
    ``Box`` in the encoding ``observation_type`` picks (the previous action is 0-3, or 4 = "none"
    on the first step of an episode; the previous reward is 0 there):

    * ``"onehot"`` (default): ``(F + 6,)`` — one-hot of the cell among the ``F`` free cells (in
      row-major order; ``F = 55`` on the default map), one-hot of the previous action (5 entries),
      the previous reward;
    * ``"coordinates"``: ``(4,)`` — ``[row, col, previous action, previous reward]``;
    * ``"image"``: ``(8, height, width)`` — planes for walls and agent, five constant planes
      one-hot of the previous action, and a constant plane holding the previous reward.

    ``"pixels"`` is the one encoding that is not Distral's state: a ``Box(0, 255, (1, 84, 84),
    uint8)`` grayscale picture of the map from above (the input size of the Atari CNNs), in
    square cells as large as fit, centred; walls and margin dark, free cells grey, the agent a
    bright square. It holds the agent's position and nothing else (no previous action or reward),
    so a pixel agent must read the position off the image.

    ## Rewards
    ``goal_reward`` (1.0) on the step that reaches the goal, ``step_reward`` (0.0) on every other step.

    ## Starting State
    A cell drawn uniformly from all free cells except the goal, every episode. The task is
    chosen by ``reset(options={"task": ...})`` or the ``task_schedule``.

    ## Episode End
    Terminated when the agent reaches the goal; truncated after ``max_steps`` (100) steps.

    ## Info
    ``task_id`` with every reset and step; at reset also ``shortest_path_length``, the fewest
    steps from the start cell to the goal (what an optimal policy takes), for normalised scores.

    ## Arguments
    ```python
    gym.make("TwoRooms-v0", room_size=5, corridor_length=5, layout=None, goals=None, num_tasks=8,
             task_seed=None, max_steps=100, goal_reward=1.0, step_reward=0.0, observation_type="onehot",
             task_schedule="uniform", task=None, task_obs=False, render_mode=None)
    ```
    * ``layout``: a custom map as a list of strings (``#`` wall, ``.`` room, ``=`` corridor),
      rectangular, walled all round, connected; overrides ``room_size`` / ``corridor_length``.
    * ``goals`` / ``num_tasks`` / ``task_seed``: the task set (see Tasks).
    * ``task_schedule``: ``"uniform"`` (random task per episode), ``"round_robin"`` or
      ``"fixed"`` (with ``task=`` an index or name).
    * ``task_obs``: observation becomes ``{"obs": ..., "task": one-hot task}``.
    * Bounds, checked at construction: ``room_size`` and ``corridor_length`` 1..32, ``layout`` at
      most 128x128, ``max_steps`` 1..10**6, rewards finite within ±10**6.
    * ``render_mode="rgb_array"``: 16 px per cell, walls dark, goal green, agent red.
      ``env.unwrapped.layout.policy_frame(probabilities)`` draws a tabular policy over the map
      (a bar per action, as long as its probability), as in Distral's Figure 3 (right).

    Randomness: ``reset(seed=s)`` draws a hash key from the seeded ``np_random``; the start cell
    (and the task under ``"uniform"``) of each later episode is a hash of that key and the episode
    number — the same rule as the batched env, so the two give identical trajectories.

    ## Version History
    * v0: Initial version. Added later, without changing dynamics: ``info["shortest_path_length"]`` at
      reset; ``task_seed`` together with ``goals`` refused (it was ignored); the vector env's
      ``render()`` before ``reset()`` refused (it drew a state that never existed); a bool action
      (``step(True)``) raises ``TypeError`` (it played action 1).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(
        self,
        room_size: int = DEFAULT_ROOM_SIZE,
        corridor_length: int = DEFAULT_CORRIDOR_LENGTH,
        layout: list[str] | None = None,
        goals: list[list[int]] | None = None,
        num_tasks: int | None = None,
        task_seed: int | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        goal_reward: float = 1.0,
        step_reward: float = 0.0,
        observation_type: str = "onehot",
        task_schedule: str = "uniform",
        task: int | str | None = None,
        render_mode: str | None = None,
    ):
        self._init_kwargs = {
            "room_size": room_size, "corridor_length": corridor_length, "layout": layout, "goals": goals,
            "num_tasks": num_tasks, "task_seed": task_seed, "max_steps": max_steps,
            "goal_reward": goal_reward, "step_reward": step_reward, "observation_type": observation_type,
            "task_schedule": task_schedule, "task": task, "render_mode": render_mode,
        }  # fmt: skip
        ensure_json_kwargs(type(self).__name__, self._init_kwargs)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"Unknown render_mode {render_mode!r}; valid: {self.metadata['render_modes']}.")
        check_episode_options(max_steps, goal_reward, step_reward)
        self.layout: TwoRoomsLayout = build_layout(room_size, corridor_length, layout, goals, num_tasks, task_seed)
        self._init_tasks(self.layout.task_names, task_schedule=task_schedule, task=task)
        self.render_mode = render_mode
        self.observation_space = observation_space(self.layout, observation_type, (goal_reward, step_reward))
        self.action_space = spaces.Discrete(NUM_ACTIONS)
        self._batch = TwoRoomsBatch(
            self.layout,
            1,
            task_ids=None,  # reset() passes the task whenever it is pinned rather than drawn
            max_steps=max_steps,
            goal_reward=goal_reward,
            step_reward=step_reward,
            observation_type=observation_type,
        )
        self._goal_distances = np.stack([self.layout.shortest_path_lengths(goal) for goal in self.layout.goals])
        self._started = False

    @property
    def position(self) -> tuple[int, int]:
        """The agent's (row, col)."""
        return self.layout.cell(int(self._batch.position[0]))

    @property
    def goal(self) -> tuple[int, int]:
        """The current task's goal (row, col)."""
        return self.layout.cell(int(self.layout.goals[self.task_id]))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed, options=options)
        if seed is not None or not self._started:
            self._batch.set_keys([int(self.np_random.integers(2**63))])
        pinned = (options or {}).get("task") is not None or self.task_schedule != "uniform"
        self._choose_task(options)  # validates options; under "uniform" the batch draws the task instead
        self._batch.begin(np.zeros(1, dtype=np.int64), [self.task_id] if pinned else None)
        self.task_id = int(self._batch.task[0])
        self._started = True
        shortest = int(self._goal_distances[self.task_id, self._batch.position[0]])
        return self._batch.observe()[0], self.task_info() | {"shortest_path_length": shortest}

    def step(self, action: Any):
        action = check_action(action, NUM_ACTIONS, names=ACTION_NAMES)
        if not self._started:
            raise RuntimeError("Call reset() before step().")
        if bool(self._batch.needs_reset[0]):
            raise RuntimeError("The episode has ended (terminated or truncated); call reset() before step().")
        rewards, terminated, truncated = self._batch.step(np.full(1, action, dtype=np.int64))
        return self._batch.observe()[0], float(rewards[0]), bool(terminated[0]), bool(truncated[0]), self.task_info()

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        agent = int(self._batch.position[0]) if self._started else None
        return self.layout.frame(int(self.layout.goals[self.task_id]), agent)
