"""MultiAtari: one Gymnasium env that switches between ALE games, one game per task."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from mtenvs.atari.game import AtariGame
from mtenvs.atari.suites import (
    NUM_ACTIONS,
    describe_protocol,
    minimal_action_mask,
    resolve_games,
    resolve_preset,
    score_reference,
)
from mtenvs.core import MultiTaskEnv, ensure_json_kwargs
from mtenvs.validation import check_action, check_int, check_number

MASKED_ACTION_MODES = ("emulate", "noop", "raise")
# Upper bounds, checked at construction: beyond them an env would run for minutes per reset
# (noop_max), exhaust memory (screen_size, stack_size) or be refused by ale-py's C++ side later.
MAX_FRAME_SKIP = 64
MAX_SCREEN_SIZE = 336  # 4x DQN's 84
MAX_STACK_SIZE = 64
MAX_NOOP_MAX = 1000
MAX_EPISODE_FRAMES = 2**31 - 1  # ALE's frame counter is a C int


def check_atari_options(frame_skip: int, screen_size: int, stack_size: int, noop_max: int, masked_action: str) -> None:
    """Validate the preprocessing options shared by the single and vector MultiAtari envs."""
    check_int("frame_skip", frame_skip, 1, MAX_FRAME_SKIP)
    check_int("screen_size", screen_size, 8, MAX_SCREEN_SIZE)
    check_int("stack_size", stack_size, 1, MAX_STACK_SIZE)
    check_int("noop_max", noop_max, 0, MAX_NOOP_MAX)
    if not isinstance(masked_action, str) or masked_action not in MASKED_ACTION_MODES:
        raise ValueError(f"Unknown masked_action {masked_action!r}; valid modes: {', '.join(MASKED_ACTION_MODES)}.")


class MultiAtariEnv(MultiTaskEnv):
    """
    ## Description
    A multi-task Atari env: each task is one ALE game, and every episode plays one of them. This
    is the game switcher behind the multi-game experiments of Actor-Mimic, multi-task DQN, multi-task
    A3C and Predictive RL. All games share the full 18-action union space; each game's valid
    actions (its ALE minimal action set) are given as a mask, as Actor-Mimic masks its 18-way head.

    ## Tasks
    One task per game, in the order given (``task_names`` are CamelCase ALE names such as
    ``"SpaceInvaders"``). Pick them with ``games=[...]`` (any ALE game) or ``suite=`` (a seed
    paper's suite, see ``mtenvs.atari.suites.SUITES``); the default is Actor-Mimic's 8 games.

    ## Action Space
    ``Discrete(18)``: ALE's full action set (0 NOOP, 1 FIRE, 2 UP, 3 RIGHT, 4 LEFT, 5 DOWN, 6-9
    diagonals, 10-17 the same with FIRE). ``info["action_mask"]`` (int8, 1 = valid) marks the
    current game's minimal action set. An action outside the mask is, by ``masked_action``:
    ``"emulate"`` (default) sent to the emulator as the joystick input it is, exactly as ALE's
    ``full_action_space=True`` does (every such action duplicates a minimal action or a no-op);
    ``"noop"`` replaced by NOOP; ``"raise"`` rejected with ``ValueError``.

    ## Observation Space
    ``Box(0, 255, (stack_size, screen_size, screen_size), uint8)``, by default ``(4, 84, 84)``:
    the last 4 preprocessed frames, each the max over the last two raw frames of an action repeat,
    grayscale, resized with area interpolation (Mnih et al. 2015; ale-py's AtariVectorEnv).

    ## Rewards
    The raw change in game score over the ``frame_skip`` repeated frames. No clipping: clip in the
    algorithm (the baselines have an option), so logged returns are real game scores.

    ## Starting State
    The game is reset and then 1..``noop_max`` no-ops (uniform, from the env's seeded RNG) are
    played. The task is chosen by ``reset(options={"task": ...})`` or the ``task_schedule``.

    ## Episode End
    Terminated when the game is over (not on life loss: ``info["life_loss"]`` reports each lost
    life, and ``info["lives"]`` the lives left). Truncated when the episode reaches
    ``max_episode_frames`` emulator frames (108,000 = 30 minutes in both presets).

    ## Info
    ``task_id``, ``action_mask``, ``lives``, ``life_loss``, ``episode_frame_number``. Wrap with
    ``mtenvs.RecordTaskEpisodeStatistics`` for per-task returns and human-normalized scores.

    ## Arguments
    ```python
    gym.make("MultiAtari-v0", games=None, suite=None, preset="machado",
             task_schedule="uniform", task=None, frame_skip=4, screen_size=84, stack_size=4,
             noop_max=30, masked_action="emulate", repeat_action_probability=None,
             max_episode_frames=None, task_obs=False, render_mode=None)
    ```
    * ``preset``: ``"machado"`` (default; sticky actions 0.25, Machado et al. 2018) or
      ``"nature"`` (no sticky actions, as the seed papers ran). Both cap episodes at 108k frames.
      ``repeat_action_probability`` / ``max_episode_frames`` override the preset's values.
    * ``task_schedule``: ``"uniform"`` (random game per episode), ``"round_robin"`` or
      ``"fixed"`` (with ``task=`` a game name or index).
    * ``task_obs``: observation becomes ``{"obs": frames, "task": one-hot game}``.
    * Bounds, checked at construction: ``frame_skip`` 1..64, ``screen_size`` 8..336, ``stack_size``
      1..64, ``noop_max`` 0..1000, ``max_episode_frames`` 1..2**31-1, ``repeat_action_probability``
      in [0, 1] (docs/contract.md lists every family's).

    ## Version History
    * v0: Initial version (ale-py 0.12 emulator, DQN preprocessing, 18-action union space). Later,
      without changing dynamics: a bool action (``step(True)``) raises ``TypeError`` (it played
      action 1); suite ids refuse ``suite=`` and ``games=``; the ale-py vector env takes seeds
      >= 2**63 (``(s + i) mod 2**31``) and says why it cannot be pickled.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(
        self,
        games: list[str] | None = None,
        suite: str | None = None,
        preset: str = "machado",
        task_schedule: str = "uniform",
        task: int | str | None = None,
        frame_skip: int = 4,
        screen_size: int = 84,
        stack_size: int = 4,
        noop_max: int = 30,
        masked_action: str = "emulate",
        repeat_action_probability: float | None = None,
        max_episode_frames: int | None = None,
        render_mode: str | None = None,
    ):
        self._init_kwargs = {
            "games": games, "suite": suite, "preset": preset, "task_schedule": task_schedule,
            "task": task, "frame_skip": frame_skip, "screen_size": screen_size,
            "stack_size": stack_size, "noop_max": noop_max, "masked_action": masked_action,
            "repeat_action_probability": repeat_action_probability,
            "max_episode_frames": max_episode_frames, "render_mode": render_mode,
        }  # fmt: skip
        ensure_json_kwargs(type(self).__name__, self._init_kwargs)
        check_atari_options(frame_skip, screen_size, stack_size, noop_max, masked_action)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"Unknown render_mode {render_mode!r}; valid: {self.metadata['render_modes']}.")
        self.emulator_settings = emulator_settings(preset, repeat_action_probability, max_episode_frames)
        names = resolve_games(games, suite)
        self._init_tasks(
            names,
            task_schedule=task_schedule,
            task=task,
            action_masks=np.stack([minimal_action_mask(name) for name in names]),
            score_references=[score_reference(name) for name in names],
        )
        self.preset = preset
        self.protocol = describe_protocol(preset, self.emulator_settings, frame_skip, noop_max)
        self.masked_action = masked_action
        self.render_mode = render_mode
        self._game_kwargs = {
            **self.emulator_settings,
            "frame_skip": frame_skip,
            "screen_size": screen_size,
            "stack_size": stack_size,
            "noop_max": noop_max,
        }
        self.observation_space = spaces.Box(0, 255, (stack_size, screen_size, screen_size), np.uint8)
        self.action_space = spaces.Discrete(NUM_ACTIONS)
        self._games: dict[int, AtariGame] = {}  # emulators are created on a task's first episode

    def _game(self, task_id: int) -> AtariGame:
        if task_id not in self._games:
            seed = int(self.np_random.integers(2**31))
            self._games[task_id] = AtariGame(self.task_names[task_id], seed=seed, **self._game_kwargs)
        return self._games[task_id]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed, options=options)
        if seed is not None:
            # Emulators created before this seed must not keep RNG state from before it.
            self._games.clear()
        self._choose_task(options)
        game = self._game(self.task_id)
        obs = game.reset(self.np_random)
        return obs, self._info(game, life_loss=False)

    def step(self, action: int):
        action = check_action(action, NUM_ACTIONS, "the union action space")
        self._check_can_step()
        if not self.action_masks[self.task_id, action]:
            if self.masked_action == "raise":
                valid = np.flatnonzero(self.action_masks[self.task_id]).tolist()
                raise ValueError(
                    f"Action {action} is not in {self.task_names[self.task_id]}'s minimal action set "
                    f"{valid} (masked_action='raise')."
                )
            if self.masked_action == "noop":
                action = 0
        game = self._games[self.task_id]
        obs, reward, terminated, truncated, life_loss = game.step(action)
        self._end_step(terminated, truncated)
        return obs, reward, terminated, truncated, self._info(game, life_loss=life_loss)

    def _info(self, game: AtariGame, *, life_loss: bool) -> dict[str, Any]:
        return {
            **self.task_info(),
            "lives": game.lives,
            "life_loss": life_loss,
            "episode_frame_number": game.frame_number(),
        }

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return self._game(self.task_id).rgb_frame()

    def __getstate__(self) -> dict[str, Any]:
        return {
            "kwargs": self._init_kwargs,
            **self._contract_state(),
            "games": {task_id: game.snapshot() for task_id, game in self._games.items()},
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state["kwargs"])
        self._restore_contract_state(state)
        for task_id, snapshot in state["games"].items():
            self._games[task_id] = AtariGame(self.task_names[task_id], seed=0, **self._game_kwargs)
            self._games[task_id].restore(snapshot)


def emulator_settings(
    preset: str, repeat_action_probability: float | None, max_episode_frames: int | None
) -> dict[str, float | int]:
    """A preset's emulator settings with explicit overrides applied and checked."""
    settings = resolve_preset(preset)
    if repeat_action_probability is not None:
        settings["repeat_action_probability"] = check_number(
            "repeat_action_probability", repeat_action_probability, 0.0, 1.0
        )
    if max_episode_frames is not None:
        settings["max_episode_frames"] = check_int("max_episode_frames", max_episode_frames, 1, MAX_EPISODE_FRAMES)
    return settings
