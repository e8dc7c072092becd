"""Synthetic runs written with TensorBoard's own writer, with values chosen so every number of the
report can be computed by hand (see the constants below)."""

from __future__ import annotations

from pathlib import Path

ATARI_ENV = "MultiAtari-Test-v0"
GRID_ENV = "TwoRooms-Test-v0"
PARTIAL_ENV = "Partial-Test-v0"
EPISODES = 20  # episode i is logged at env step 100 * i and wall time 1000 + i
# Final human-normalized score of each run (seed) per game, logged constant over episodes.
HNS = {
    "alpha": {"pong": [0.1, 0.5, 0.9], "breakout": [1.0, 2.0, 6.0]},
    "beta": {"pong": [0.2, 0.2, 0.2], "breakout": [0.4, 0.4, 0.4]},
}
SEEDS = (1, 2, 3)
EVAL_ENV = "Eval-Test-v0"
# Evaluation k of every run scores 10 * k (+ seed); each is one point of eval/episodic_return/<task>.
EVALUATIONS = 12


def episode_return(algorithm: str, seed: int, task: str, episode: int) -> float:
    """Return of episode ``episode``: a ramp, so the mean of the last 10 of 20 is base + 14.5."""
    base = 10.0 * seed + (5.0 if task == "pong" else 0.0) + (100.0 if algorithm == "beta" else 0.0)
    return base + episode


def _hyperparameters(params: dict[str, object]) -> str:
    return "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in params.items())


def write_runs(root: Path) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    for algorithm, games in HNS.items():
        for s, seed in enumerate(SEEDS):
            writer = SummaryWriter(str(root / f"{ATARI_ENV}__{algorithm}__{seed}__1700000000"))
            writer.add_text("hyperparameters", _hyperparameters({"preset": "machado", "seed": seed, "lr": 0.001}))
            for i in range(EPISODES):
                for game, scores in games.items():
                    writer.add_scalar(f"charts/episodic_return/{game}", episode_return(algorithm, seed, game, i),
                                      100 * i, walltime=1000.0 + i)  # fmt: skip
                    writer.add_scalar(f"charts/human_normalized_score/{game}", scores[s], 100 * i,
                                      walltime=1000.0 + i)  # fmt: skip
                writer.add_scalar("charts/SPS", 500 + seed, 100 * i, walltime=1000.0 + i)
            writer.close()

    # A run missing every return metric (it only logged SPS and a loss).
    writer = SummaryWriter(str(root / f"{ATARI_ENV}__gamma__1__1700000000"))
    for i in range(5):
        writer.add_scalar("charts/SPS", 100.0, 100 * i, walltime=1000.0 + i)
        writer.add_scalar("losses/td_loss", 1.0 / (i + 1), 100 * i, walltime=1000.0 + i)
    writer.close()

    # Mismatched step grids, only the any-task return, no hyperparameters: seed 1 ends at step 900,
    # seed 2 logs every 150 steps up to 2850; seed 3 gets truncated below.
    for seed, stride in ((1, 100), (2, 150), (3, 100)):
        writer = SummaryWriter(str(root / f"{GRID_ENV}__delta__{seed}__1700000000"))
        for i in range(10 if seed == 1 else 20):
            writer.add_scalar("charts/episodic_return", float(seed), stride * i, walltime=2000.0 + i)
        writer.close()

    # Seed 2 of "eps" never logged task b (e.g. it crashed before b's first episode ended).
    for seed, tasks in ((1, ("a", "b")), (2, ("a",))):
        writer = SummaryWriter(str(root / f"{PARTIAL_ENV}__eps__{seed}__1700000000"))
        for i in range(5):
            for task in tasks:
                writer.add_scalar(f"charts/episodic_return/{task}", 10.0 * seed, 100 * i, walltime=3000.0 + i)
        writer.close()

    # Damage: seed 3's file cut mid-record; a file of garbage; an empty run; a misnamed folder.
    (event_file,) = (root / f"{GRID_ENV}__delta__3__1700000000").glob("events.out.tfevents.*")
    data = event_file.read_bytes()
    event_file.write_bytes(data[: len(data) // 2])
    garbage = root / f"{GRID_ENV}__delta__4__1700000000"
    garbage.mkdir()
    (garbage / "events.out.tfevents.1700000000.host").write_bytes(b"\x07not an event file" * 40)
    (root / f"{GRID_ENV}__delta__5__1700000000").mkdir()
    (root / "notes").mkdir()
    return root


def write_eval_runs(root: Path) -> Path:
    """Seeds 1 and 2 of one algorithm: a training return per episode (episode i returns i, 30 episodes)
    and an evaluation every 1000 steps (evaluation k scores 10 * k + seed, 12 evaluations). The last
    evaluations average 111.5 over the seeds; the last 10 evaluations of a run average 65 + seed."""
    from torch.utils.tensorboard import SummaryWriter

    for seed in (1, 2):
        writer = SummaryWriter(str(root / f"{EVAL_ENV}__zeta__{seed}__1700000000"))
        for i in range(30):
            writer.add_scalar("charts/episodic_return/a", float(i), 400 * i, walltime=4000.0 + i)
        for k in range(EVALUATIONS):
            writer.add_scalar("eval/episodic_return/a", 10.0 * k + seed, 1000 * k, walltime=4000.0 + k)
        writer.close()
    return root
