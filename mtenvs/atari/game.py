"""One ALE emulator with DQN preprocessing (Mnih et al. 2015), as ale-py's AtariVectorEnv does it.

Per agent step: the action is repeated ``frame_skip`` times, the last two raw frames are
max-pooled (flicker removal), converted to grayscale, resized to ``screen_size`` x ``screen_size``
with area interpolation, and pushed onto a stack of the last ``stack_size`` frames. Episodes
start with a random number (1..``noop_max``) of no-ops. Rewards are the raw game score.

Sticky actions (Machado et al. 2018) are applied here rather than inside ALE, with ALE's rule (on
every emulator frame, with probability ``repeat_action_probability`` the previous frame's action is
played instead of the new one): ALE's saved states leave out the previous action, so an emulator
restored from a snapshot would not continue identically; here it is part of the snapshot.
"""

from __future__ import annotations

from typing import Any

import ale_py
import cv2
import numpy as np

from mtenvs.atari.suites import NUM_ACTIONS, rom_id
from mtenvs.validation import SEED_BOUND

_ACTIONS = [ale_py.Action(index) for index in range(NUM_ACTIONS)]
_NOOP = _ACTIONS[0]


class AtariGame:
    """A single game's emulator, its preprocessing state and its picklable snapshot."""

    def __init__(
        self,
        game: str,
        *,
        seed: int,
        repeat_action_probability: float,
        max_episode_frames: int,
        frame_skip: int,
        screen_size: int,
        stack_size: int,
        noop_max: int,
    ):
        self.game = game
        self.settings = {
            "repeat_action_probability": repeat_action_probability,
            "max_episode_frames": max_episode_frames,
        }
        self.frame_skip = frame_skip
        self.screen_size = screen_size
        self.noop_max = noop_max
        self.repeat_action_probability = float(repeat_action_probability)
        self.ale = ale_py.ALEInterface()
        self.ale.setLoggerMode(ale_py.LoggerMode.Error)
        self.load(seed)
        raw_shape = self.ale.getScreenDims()
        self._raw = np.zeros((2, *raw_shape), dtype=np.uint8)
        self.stack = np.zeros((stack_size, screen_size, screen_size), dtype=np.uint8)
        self.lives = 0

    def load(self, seed: int) -> None:
        """(Re)load the ROM, with the emulator's RNG and the sticky-action RNG seeded by ``seed``."""
        self.ale.setInt("random_seed", int(seed) % SEED_BOUND)
        self.ale.setFloat("repeat_action_probability", 0.0)  # sticky actions are applied in act()
        self.ale.setInt("max_num_frames_per_episode", int(self.settings["max_episode_frames"]))
        self.ale.loadROM(ale_py.roms.get_rom_path(rom_id(self.game)))
        self._sticky_rng = np.random.default_rng(int(seed))
        self._previous_action = 0

    def act(self, action: int) -> float:
        """One emulator frame of ``action``, or of the previous frame's action when it sticks."""
        if self.repeat_action_probability == 0.0 or self._sticky_rng.random() >= self.repeat_action_probability:
            self._previous_action = action
        return self.ale.act(_ACTIONS[self._previous_action])

    def reset(self, np_random: np.random.Generator) -> np.ndarray:
        """Start a new episode after 1..noop_max no-ops; the stack is filled with the first frame."""
        self.ale.reset_game()
        self._previous_action = 0  # as ALE's reset does
        for _ in range(int(np_random.integers(1, self.noop_max + 1)) if self.noop_max > 0 else 0):
            self.ale.act(_NOOP)
            if self.ale.game_over():
                self.ale.reset_game()
        self.ale.getScreenGrayscale(self._raw[0])
        self._raw[1] = self._raw[0]
        self.stack[:] = self._frame()
        self.lives = self.ale.lives()
        return self.stack.copy()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, bool]:
        """Repeat ``action`` for ``frame_skip`` frames: (obs, reward, terminated, truncated, life_lost)."""
        reward = 0.0
        last = self.frame_skip - 1
        for frame in range(self.frame_skip):
            reward += self.act(action)
            game_over = self.ale.game_over()
            if game_over or frame == last:
                self.ale.getScreenGrayscale(self._raw[1])
                if frame == 0 or frame < last:
                    # No earlier frame of this step was kept: pool the frame with itself.
                    self._raw[0] = self._raw[1]
                break
            if frame == last - 1:
                self.ale.getScreenGrayscale(self._raw[0])
        self.stack[:-1] = self.stack[1:]
        self.stack[-1] = self._frame()
        lives = self.ale.lives()
        life_lost = lives < self.lives
        self.lives = lives
        terminated = self.ale.game_over(with_truncation=False)
        truncated = self.ale.game_truncated()
        return self.stack.copy(), reward, terminated, truncated, life_lost

    def _frame(self) -> np.ndarray:
        pooled = np.maximum(self._raw[0], self._raw[1])
        return cv2.resize(pooled, (self.screen_size, self.screen_size), interpolation=cv2.INTER_AREA)

    def rgb_frame(self) -> np.ndarray:
        """The current raw 210x160 RGB screen."""
        return self.ale.getScreenRGB()

    def frame_number(self) -> int:
        """Emulator frames elapsed in the current episode."""
        return self.ale.getEpisodeFrameNumber()

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to continue this game identically in a new process."""
        return {
            "ale_state": self.ale.cloneState(include_rng=True),
            "raw": self._raw.copy(),
            "stack": self.stack.copy(),
            "lives": self.lives,
            "previous_action": self._previous_action,
            "sticky_rng": self._sticky_rng.bit_generator.state,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Continue from a :meth:`snapshot` (the ROM must already be loaded)."""
        self.ale.restoreState(snapshot["ale_state"])
        self._raw[:] = snapshot["raw"]
        self.stack[:] = snapshot["stack"]
        self.lives = snapshot["lives"]
        self._previous_action = snapshot["previous_action"]
        self._sticky_rng.bit_generator.state = snapshot["sticky_rng"]
