"""The fast MultiAtari vector path: one ale-py ``AtariVectorEnv`` (C++ threads) per game group.

Under grouped assignment every sub-env keeps one game, so the batch splits into contiguous
per-game groups, each stepped by ale-py's own C++ vector env. All groups are sent their actions
before any result is collected, so the groups' emulator threads run concurrently.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from ale_py.vector_env import AtariVectorEnv
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from mtenvs.atari.env import MultiAtariEnv, check_atari_options, emulator_settings
from mtenvs.atari.suites import (
    NUM_ACTIONS,
    describe_protocol,
    minimal_action_mask,
    resolve_games,
    rom_id,
    score_reference,
)
from mtenvs.core import ensure_json_kwargs
from mtenvs.validation import SEED_BOUND, check_bool, check_int
from mtenvs.vector import (
    MultiTaskVectorBase,
    check_autoreset_mode,
    check_batch_memory,
    check_num_envs,
    check_task_assignment,
    check_vectorization,
    check_workers_only,
    make_copies_vec,
    with_task_obs,
)

VECTORIZATIONS = ("ale", "workers", "sync", "async")
# The default vectorization of each task assignment (the faster path measured, docs/multi_atari.md).
DEFAULT_VECTORIZATION = {"grouped": "ale", "sampled": "workers"}


def ale_vector_kwargs(
    settings: dict[str, float | int], frame_skip: int, screen_size: int, stack_size: int, noop_max: int
) -> dict[str, Any]:
    """AtariVectorEnv arguments giving the same preprocessing as :class:`MultiAtariEnv`.

    Used by the vector env and by ``mtenvs throughput`` for its raw ale-py reference, so the two are
    always measured with identical settings.
    """
    return {
        "repeat_action_probability": float(settings["repeat_action_probability"]),
        "max_num_frames_per_episode": int(settings["max_episode_frames"]),
        "full_action_space": True,
        "img_height": screen_size,
        "img_width": screen_size,
        "grayscale": True,
        "stack_num": stack_size,
        "frameskip": frame_skip,
        "maxpool": True,
        "noop_max": noop_max,
        "episodic_life": False,
        "life_loss_info": False,
        "reward_clipping": False,
        "use_fire_reset": False,
    }


MAX_NUM_THREADS = 256


class MultiAtariVectorEnv(MultiTaskVectorBase):
    """Grouped MultiAtari sub-envs stepped by one ale-py ``AtariVectorEnv`` per game.

    Sub-env ``i`` plays game ``i * num_games // num_envs`` for the whole run. Observations,
    rewards and flags are concatenated in sub-env order; ``infos`` carries ``task_id``,
    ``action_mask``, ``lives`` and ``episode_frame_number`` arrays. Same arguments and
    preprocessing as :class:`mtenvs.atari.env.MultiAtariEnv`.

    ``num_threads`` is each game's emulator thread count; 0 (default) is ale-py's own default, one
    per core, so every group can use all cores while the others wait on slower games. (Sharing the
    cores out, one thread per group on 2 cores, measured 2-9% slower on an idle machine.)

    ``reset(seed=s)`` seeds sub-env ``i`` with ``(s + i) mod 2**31`` (ale-py takes 31-bit seeds);
    the only reset option is ``reset_mask``.
    """

    action_space_name = "the union action space"

    def __init__(
        self,
        num_envs: int,
        games: list[str] | None = None,
        suite: str | None = None,
        preset: str = "machado",
        frame_skip: int = 4,
        screen_size: int = 84,
        stack_size: int = 4,
        noop_max: int = 30,
        masked_action: str = "emulate",
        repeat_action_probability: float | None = None,
        max_episode_frames: int | None = None,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        num_threads: int = 0,
    ):
        check_num_envs(num_envs)
        check_atari_options(frame_skip, screen_size, stack_size, noop_max, masked_action)
        settings = emulator_settings(preset, repeat_action_probability, max_episode_frames)
        self.emulator_settings = settings
        self.protocol = describe_protocol(preset, settings, frame_skip, noop_max)
        names = resolve_games(games, suite)
        self._init_vector_tasks(num_envs, names, score_references=[score_reference(name) for name in names])
        self.masked_action = masked_action
        self.action_masks = np.stack([minimal_action_mask(name) for name in self.task_names])
        self._env_masks = self.action_masks[self.env_task_ids]
        self.autoreset_mode = check_autoreset_mode(autoreset_mode, (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP))
        check_int("num_threads", num_threads, 0, MAX_NUM_THREADS)
        self.single_observation_space = spaces.Box(0, 255, (stack_size, screen_size, screen_size), np.uint8)
        check_batch_memory(self.num_envs, self.single_observation_space)
        ale_kwargs = ale_vector_kwargs(settings, frame_skip, screen_size, stack_size, noop_max)
        # (task id, slice of sub-envs, that game's vector env) for every game with sub-envs.
        self._groups: list[tuple[int, slice, AtariVectorEnv]] = []
        for task_id in range(self.num_tasks):
            (members,) = np.nonzero(self.env_task_ids == task_id)
            if members.size:
                group = AtariVectorEnv(
                    rom_id(self.task_names[task_id]),
                    int(members.size),
                    num_threads=num_threads,
                    autoreset_mode=self.autoreset_mode,
                    **ale_kwargs,
                )
                self._groups.append((task_id, slice(int(members[0]), int(members[-1]) + 1), group))
        self.single_action_space = spaces.Discrete(NUM_ACTIONS)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.metadata = {"autoreset_mode": self.autoreset_mode, "render_modes": []}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        reset_mask = self._check_reset(seed, options, ("reset_mask",)).get("reset_mask")
        if reset_mask is not None:
            reset_mask = np.asarray(reset_mask)
            if reset_mask.dtype != np.bool_ or reset_mask.shape != (self.num_envs,):
                raise ValueError(f"reset_mask must be a bool array of shape ({self.num_envs},).")
        results = []
        for _, members, group in self._groups:
            group_options = None
            group_seed = None
            if seed is not None:
                group_seed = np.arange(members.start, members.stop, dtype=np.int64)
            if reset_mask is not None:
                group_options = {"reset_mask": reset_mask[members]}
                if group_seed is not None:
                    group_seed = np.arange(reset_mask[members].sum(), dtype=np.int64) + members.start
            if group_seed is not None:
                # seed reduced first: the single env takes any seed >= 0, but NumPy's int64 adds overflow.
                group_seed = (group_seed + int(seed) % SEED_BOUND) % SEED_BOUND
            results.append(group.reset(seed=group_seed, options=group_options))
        self._started = True
        obs = np.concatenate([r[0] for r in results])
        return obs, self._merge_infos([r[1] for r in results])

    def step(self, actions: np.ndarray):
        actions = self._check_step(actions)
        for _, members, group in self._groups:
            group.send(actions[members])
        results = [group.recv() for _, _, group in self._groups]
        obs = np.concatenate([r[0] for r in results])
        rewards = np.concatenate([r[1] for r in results]).astype(np.float64)
        terminations = np.concatenate([r[2] for r in results])
        truncations = np.concatenate([r[3] for r in results])
        return obs, rewards, terminations, truncations, self._merge_infos([r[4] for r in results])

    def _check_actions(self, actions: Any) -> np.ndarray:
        actions = super()._check_actions(actions).astype(np.int32)  # the base refuses masked_action="raise"
        if self.masked_action == "noop":
            valid = self._env_masks[np.arange(self.num_envs), actions].astype(bool)
            actions = np.where(valid, actions, 0).astype(np.int32)
        return actions

    def _merge_infos(self, group_infos: list[dict[str, Any]]) -> dict[str, Any]:
        infos = {
            "task_id": self.env_task_ids.copy(),
            "action_mask": self._env_masks.copy(),
        }
        for key in ("lives", "episode_frame_number"):
            infos[key] = np.concatenate([info[key] for info in group_infos])
        return infos

    def close_extras(self, **kwargs: Any) -> None:
        for _, _, group in self._groups:
            group.close()

    def __getstate__(self) -> dict[str, Any]:
        raise self._pickling_error(
            "its games run in ale-py's C++ vector envs, whose emulators and threads Python cannot copy"
        )


def make_multi_atari_vec(
    num_envs: int,
    *,
    task_assignment: str = "grouped",
    vectorization: str | None = None,
    task_obs: bool = False,
    **kwargs: Any,
) -> VectorEnv:
    """Vector entry point of every MultiAtari id (``gym.make_vec(id, num_envs=N, ...)``).

    ``vectorization=None`` (default) picks the faster path for the task assignment
    (``DEFAULT_VECTORIZATION``): grouped runs :class:`MultiAtariVectorEnv` (``"ale"``: one ale-py
    ``AtariVectorEnv`` per game), sampled runs :class:`MultiAtariEnv` copies in
    :class:`mtenvs.workers.WorkerVectorEnv` (``"workers"``; one ALE vector env cannot change game).
    ``"workers"`` also runs grouped, and ``"sync"`` / ``"async"`` put the copies in Gymnasium's vector envs.
    """
    check_num_envs(num_envs)
    check_task_assignment(task_assignment)
    if vectorization is None:
        vectorization = DEFAULT_VECTORIZATION[task_assignment]
    defaults = ", ".join(f"{mode} when {assignment}" for assignment, mode in DEFAULT_VECTORIZATION.items())
    check_vectorization(vectorization, VECTORIZATIONS, defaults)
    check_workers_only(vectorization, kwargs)
    check_bool("task_obs", task_obs)
    ensure_json_kwargs("MultiAtari vector env", kwargs)
    if vectorization == "ale":
        if task_assignment != "grouped":
            raise ValueError(
                'vectorization="ale" steps one fixed game per sub-env; use task_assignment="grouped" '
                'or vectorization="workers" (the default), "sync" or "async" for sampled tasks.'
            )
        return with_task_obs(MultiAtariVectorEnv(num_envs, **kwargs), task_obs)
    vector_only = {"num_threads"} & set(kwargs)
    if vector_only:
        raise ValueError(f'{sorted(vector_only)} only apply with vectorization="ale".')
    return make_copies_vec(
        MultiAtariEnv,
        num_envs,
        task_assignment=task_assignment,
        vectorization=vectorization,
        task_obs=task_obs,
        **kwargs,
    )
