"""The training toolkit every baseline in ``baselines/`` takes its plumbing from.

Plain functions and small dataclasses, called one explicit line at a time from each script's
``main``, so the order of events stays visible there and the algorithm stays in the script (as
CleanRL's scripts take their buffers from ``cleanrl_utils``). Nothing here is imported by
``mtenvs/__init__`` (torch stays optional for env users).

- :mod:`mtenvs.train.cli`: the one-line exit-2 runner, argument rules, ``--env-kwargs``, family defaults, resume rules.
- :mod:`mtenvs.train.run`: seeding, device choice, run names and the run folder.
- :mod:`mtenvs.train.writer`: TensorBoard (and W&B) with provenance and the purge step on resume.
- :mod:`mtenvs.train.checkpoint`: atomic, verified, data-only checkpoints; RNG and env state as plain data.
- :mod:`mtenvs.train.progress`: progress lines, step-interval crossings, per-episode logging, evaluation.
- :mod:`mtenvs.train.observations`: observation layout (channel-first and channel-last) and action masks.
- :mod:`mtenvs.train.dqn_format`: the ``mtenvs-dqn/1`` network and file format of the DQN family.
- :mod:`mtenvs.train.replay`: the DQN family's replay memories (torch tensors in lockstep lanes; NumPy per task).
- :mod:`mtenvs.train.dqn_family`: epsilon schedule and masked epsilon-greedy, Nature DQN's optimiser, grouped
  per-task envs, per-task episode logging and evaluation (mdqn, mcdqn, actor_mimic).
- :mod:`mtenvs.train.metrics`: metrics of predictions (ROC AUC).

Conventions the toolkit enforces are described once, in docs/baselines.md.
"""
