"""What a run reports while it trains: progress lines, finished episodes, evaluations."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def crossed(interval: int, before: int, after: int) -> bool:
    """Whether the step count passed a multiple of ``interval`` (> 0) going from ``before`` to ``after``."""
    return after // interval != before // interval


class Progress:
    """A progress line at least every ``interval`` seconds: step, budget, SPS since the start, recent mean return."""

    def __init__(self, interval: float, total: int, start_step: int, clock: Callable[[], float] = time.time):
        self.interval, self.total, self.start_step, self.clock = interval, total, start_step, clock
        self.start = self.last = clock()
        self.returns: deque[float] = deque(maxlen=100)

    def sps(self, step: int) -> int:
        """Env steps per second of this process (a resumed run counts from its resume step)."""
        return int((step - self.start_step) / max(self.clock() - self.start, 1e-9))

    def due(self, final: bool = False) -> bool:
        return final or self.clock() - self.last >= self.interval

    def print(self, step: int, extra: str = "") -> None:
        """``step S/T, SPS N, mean return of the last K episodes R`` (and ``extra``)."""
        mean = f"{np.mean(self.returns):.3f}" if self.returns else "n/a (no episode finished yet)"
        line = f"step {step}/{self.total}, SPS {self.sps(step)}, mean return of the last {len(self.returns)} episodes"
        print(f"{line} {mean}{extra}", flush=True)
        self.last = self.clock()


def normalized_score(reached_goal: bool, shortest_path: float, length: int) -> float:
    """TwoRooms' score of one episode: optimal steps / steps taken if it reached its goal, else 0."""
    return float(shortest_path / length) if reached_goal else 0.0


def update_shortest_paths(shortest_paths: np.ndarray, infos: dict[str, Any]) -> None:
    """Keep each env's optimal episode length current (TwoRooms gives ``shortest_path_length`` at reset)."""
    if "shortest_path_length" in infos:
        started = infos.get("_shortest_path_length", np.ones(len(shortest_paths), dtype=bool))
        shortest_paths[started] = infos["shortest_path_length"][started]


def log_finished_episodes(
    writer: Any, infos: dict[str, Any], terminations: np.ndarray, shortest_paths: np.ndarray,
    task_names: Sequence[str], step: int, progress: Progress,
) -> None:  # fmt: skip
    """Log the episodes a vector step finished: return and length overall and per task, TwoRooms' normalised
    score and Atari's human-normalised score where defined."""
    if "episode" not in infos:
        return
    episode = infos["episode"]
    for i in np.flatnonzero(infos["_episode"]):
        ret, length, hns = episode["r"][i], episode["l"][i], episode["hns"][i]
        task = task_names[episode["task_id"][i]]
        progress.returns.append(ret)
        writer.add_scalar("charts/episodic_return", ret, step)
        writer.add_scalar(f"charts/episodic_return/{task}", ret, step)
        writer.add_scalar("charts/episodic_length", length, step)
        if np.isfinite(shortest_paths[i]):
            score = normalized_score(terminations[i], shortest_paths[i], length)
            writer.add_scalar(f"charts/normalized_score/{task}", score, step)
        if np.isfinite(hns):
            writer.add_scalar(f"charts/human_normalized_score/{task}", hns, step)


def evaluate_episodes(
    envs: Any, act: Callable[[np.ndarray, dict[str, Any], bool], np.ndarray], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return and normalised score (NaN where undefined) of the first episode of every env of a vector env.

    ``act(obs, infos, first)`` gives the actions of one step (``first`` on the reset step, where a
    recurrent policy starts from its initial state); the script's own evaluation rule lives there.
    """
    obs, infos = envs.reset(seed=seed)
    shortest_paths = np.full(envs.num_envs, np.nan)
    update_shortest_paths(shortest_paths, infos)
    returns, scores = np.full(envs.num_envs, np.nan), np.full(envs.num_envs, np.nan)
    first = True
    while np.isnan(returns).any():
        obs, _, terminations, truncations, infos = envs.step(act(obs, infos, first))
        first = False
        if (np.any(terminations) or np.any(truncations)) and "episode" not in infos:
            raise ValueError("evaluate_episodes needs envs that record episodes (RecordTaskEpisodeStatisticsVector).")
        update_shortest_paths(shortest_paths, infos)
        if "episode" in infos:
            for i in np.flatnonzero(infos["_episode"] & np.isnan(returns)):
                returns[i] = infos["episode"]["r"][i]
                scores[i] = normalized_score(terminations[i], shortest_paths[i], infos["episode"]["l"][i])
    return returns, scores


def per_task_means(values: np.ndarray, env_task_ids: np.ndarray, num_tasks: int) -> np.ndarray:
    """Mean of ``values`` over the envs of each task."""
    return np.array([values[np.asarray(env_task_ids) == task].mean() for task in range(num_tasks)])


def log_evaluation(
    writer: Any, tags: tuple[str, str], task_names: Sequence[str], returns: np.ndarray, scores: np.ndarray, step: int
) -> None:
    """``{return tag}/{task}`` and ``{score tag}/{task}`` (where finite), and their means over the tasks; one line."""
    return_tag, score_tag = tags
    for task, ret, score in zip(task_names, returns, scores, strict=True):
        writer.add_scalar(f"{return_tag}/{task}", ret, step)
        if np.isfinite(score):
            writer.add_scalar(f"{score_tag}/{task}", score, step)
    writer.add_scalar(return_tag, returns.mean(), step)
    if np.isfinite(scores).all():
        writer.add_scalar(score_tag, scores.mean(), step)
    print(f"step {step}: {return_tag} {returns.mean():.3f}, normalized {scores.mean():.3f}")
