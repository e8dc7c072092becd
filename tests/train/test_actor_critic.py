"""mtenvs.train.actor_critic: grouped envs, the rollout's env side, n-step returns, evaluation, checkpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace

import gymnasium as gym
import numpy as np
import pytest
import torch

import mtenvs  # noqa: F401
from mtenvs.train import actor_critic, checkpoint
from mtenvs.train.cli import BadArgument
from mtenvs.train.observations import ObservationLayout

CPU = torch.device("cpu")


def tiny_rollout(num_steps: int = 3, num_envs: int = 2) -> actor_critic.Rollout:
    return actor_critic.Rollout.allocate(num_steps, num_envs, (5,), 4, CPU)


def test_rollout_is_allocated_once_with_named_fields_and_its_size_is_known():
    rollout = tiny_rollout()
    assert rollout.obs.shape == (3, 2, 5) and rollout.action_masks.shape == (3, 2, 4)
    assert rollout.action_masks.dtype == rollout.autoreset_steps.dtype == torch.bool
    assert rollout.actions.dtype == torch.long and rollout.action_masks.all()
    allocated = sum(t.element_size() * t.nelement() for t in vars(rollout).values())
    assert actor_critic.Rollout.nbytes(3, 2, (5,), 4) == allocated


def test_n_step_returns_cut_at_terminations_and_bootstrap_truncations_through_autoreset_steps():
    rollout = tiny_rollout(num_steps=3, num_envs=3)
    rewards = torch.tensor([[1.0, 1.0, 1.0], [0.0, 2.0, 0.0], [1.0, 0.0, 5.0]])
    rollout.values[:] = torch.tensor([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 7.0]])
    rollout.dones[0, 1] = 1.0  # env 1 terminates at step 0
    rollout.autoreset_steps[2, 2] = True  # env 2: step 2 is the autoreset step after a truncation at step 1
    next_value = torch.tensor([10.0, 10.0, 10.0])
    returns = actor_critic.n_step_returns(rewards, rollout, next_value, gamma=0.5)
    # env 0: no episode end, bootstrapped from next_value
    assert returns[:, 0].tolist() == [1.0 + 0.5 * (0.0 + 0.5 * (1.0 + 0.5 * 10.0)), 0.0 + 0.5 * 6.0, 6.0]
    # env 1: the termination at step 0 cuts the return there
    assert returns[0, 1].item() == 1.0 and returns[1, 1].item() == 2.0 + 0.5 * (0.0 + 0.5 * 10.0)
    # env 2: the autoreset step's return is its value V(final obs), which bootstraps step 1
    assert returns[2, 2].item() == 7.0 and returns[1, 2].item() == 0.0 + 0.5 * 7.0


def test_masked_mean_and_clone_state():
    x, valid = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([True, False, True])
    assert actor_critic.masked_mean(x, valid).item() == 2.0
    assert actor_critic.masked_mean(x, torch.zeros(3, dtype=torch.bool)).item() == 0.0
    state = [None, (torch.ones(2), torch.zeros(2))]
    copy = actor_critic.clone_state(state)
    copy[1][0].add_(1.0)
    assert copy[0] is None and state[1][0].tolist() == [1.0, 1.0]


def test_require_one_update():
    actor_critic.require_one_update(40, 4, 10)
    with pytest.raises(BadArgument, match=r"--total-timesteps 39 is less than one update \(--num-envs \* --num-steps"):
        actor_critic.require_one_update(39, 4, 10)


@pytest.mark.parametrize(
    ("env_id", "num_envs", "kwargs", "message"),
    [
        ("TwoRooms-v0", 3, {"num_tasks": 2}, "has 2 tasks: --num-envs 3 must be a multiple of it"),
        ("TwoRooms-v0", 4, {"num_tasks": 2, "task_obs": True}, "observations must be a Box"),
        ("TwoRooms-v0", 4, {"num_tasks": 0}, "--env-kwargs"),
        ("TwoRooms-v0", 4, {"no_such_option": 1}, "--env-kwargs"),
    ],
)
def test_grouped_envs_refuse_what_the_scripts_cannot_train_on(env_id, num_envs, kwargs, message):
    with pytest.raises(BadArgument, match=message):
        actor_critic.make_grouped_envs(env_id, num_envs, kwargs, "Distral")


def test_grouped_envs_and_their_layout():
    envs, layout = actor_critic.make_grouped_envs("MultiControl-v0", 10, {}, "A3C")
    assert envs.unwrapped.env_task_ids.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert layout.shape == (6,) and not layout.image
    envs.close()
    pixels = json.dumps({"observation_type": "pixels", "num_tasks": 2, "room_size": 3, "corridor_length": 1})
    envs, layout = actor_critic.make_grouped_envs("TwoRooms-v0", 2, json.loads(pixels), "A3C")
    assert layout.image and len(layout.shape) == 3
    envs.close()


def test_env_stream_counts_agent_steps_and_marks_autoreset_steps_and_episode_starts():
    envs, layout = actor_critic.make_grouped_envs("TwoRooms-v0", 2, {"num_tasks": 2, "max_steps": 2}, "A3C")
    stream = actor_critic.EnvStream(envs, layout, CPU, seed=0)
    rollout = actor_critic.Rollout.allocate(6, 2, layout.shape, 4, CPU)
    assert stream.episode_start.tolist() == [1.0, 1.0] and not stream.autoreset.any()
    agent_steps = 0
    for step in range(6):
        stream.record(rollout, step)
        agent_steps += stream.step(torch.zeros(2, dtype=torch.long), rollout, step, clip_rewards=False)
    envs.close()
    # Episodes last at most 2 steps; each end is followed by one autoreset step (ignored action, not counted).
    flags = rollout.autoreset_steps
    assert agent_steps == int((~flags).sum()) and flags.any()
    for t in range(1, 6):  # an autoreset step follows an episode end; the step after it starts an episode
        assert torch.equal(rollout.episode_starts[t], rollout.autoreset_steps[t - 1].float())
    assert torch.all(rollout.episode_starts[0] == 1.0)


class ScaledRewards:
    """A 2-env vector env stub whose every step gives rewards 5 and -0.25."""

    num_envs = 2
    single_action_space = gym.spaces.Discrete(3)

    def reset(self, seed=None):
        return np.zeros((2, 4), dtype=np.float32), {}

    def step(self, actions):
        no = np.zeros(2, dtype=bool)
        return np.zeros((2, 4), dtype=np.float32), np.array([5.0, -0.25]), no, no, {}


@pytest.mark.parametrize(("clip", "expected"), [(False, [5.0, -0.25]), (True, [1.0, -1.0])])
def test_env_stream_sign_clips_rewards_only_when_asked(clip, expected):
    envs = ScaledRewards()
    layout = ObservationLayout.of(gym.spaces.Box(-1, 1, (4,)))
    stream = actor_critic.EnvStream(envs, layout, CPU, seed=0)
    rollout = actor_critic.Rollout.allocate(1, 2, layout.shape, 3, CPU)
    stream.record(rollout, 0)
    assert stream.step(torch.zeros(2, dtype=torch.long), rollout, 0, clip_rewards=clip) == 2
    assert rollout.rewards[0].tolist() == expected and rollout.dones[0].tolist() == [0.0, 0.0]


def test_evaluation_act_starts_each_evaluation_from_the_initial_state():
    seen = []

    def choose(obs, state, episode_start, mask):
        seen.append((state, episode_start.tolist(), mask.shape))
        return torch.zeros(2, dtype=torch.long), state + 1

    envs, layout = actor_critic.make_grouped_envs("TwoRooms-v0", 2, {"num_tasks": 2}, "A3C")
    act = actor_critic.evaluation_act(envs, layout, CPU, 0, choose)
    obs, infos = envs.reset(seed=0)
    for first in (True, False, False, True):
        assert act(obs, infos, first).tolist() == [0, 0]
    envs.close()
    assert [s for s, _, _ in seen] == [0, 1, 2, 0]
    assert [starts for _, starts, _ in seen] == [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
    assert seen[0][2] == (2, 4)


@dataclass
class TinyArgs:
    seed: int = 1
    resume: str | None = None


def test_checkpoint_payload_round_trips_and_another_scripts_is_refused(tmp_path, capsys):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    path = tmp_path / "checkpoint.pt"
    payload = actor_critic.checkpoint_payload("a.py", TinyArgs(resume="old"), "run", 120, 3, model, optimizer)
    checkpoint.save(path, payload)
    expected_draw = torch.rand(3)  # the RNG state was saved before this draw

    saved = checkpoint.load(path, "--resume", actor_critic.checkpoint_schema("a.py"), "a checkpoint of a.py")
    assert saved["args"] == {"seed": 1, "resume": None} and (saved["global_step"], saved["update"]) == (120, 3)
    fresh = torch.nn.Linear(3, 2)
    fresh_optimizer = torch.optim.RMSprop(fresh.parameters(), lr=1e-3)
    actor_critic.restore(saved, fresh, fresh_optimizer, str(path))
    assert torch.equal(fresh.weight, model.weight)
    assert torch.equal(
        fresh_optimizer.state_dict()["state"][0]["square_avg"], optimizer.state_dict()["state"][0]["square_avg"]
    )
    assert torch.equal(torch.rand(3), expected_draw)
    assert "episodes in progress restart" in capsys.readouterr().out
    with pytest.raises(BadArgument, match=r"is not a checkpoint of b.py: 'script' is 'a.py', expected 'b.py'"):
        checkpoint.load(path, "--resume", actor_critic.checkpoint_schema("b.py"), "a checkpoint of b.py")
    with pytest.raises(BadArgument, match="its model does not fit"):
        actor_critic.restore(saved, torch.nn.Linear(4, 2), fresh_optimizer, str(path))


def test_evaluate_logs_per_task_means_of_the_first_episodes(capsys):
    class Writer:
        def __init__(self):
            self.scalars = {}

        def add_scalar(self, tag, value, step):
            self.scalars[tag] = (value, step)

    envs, layout = actor_critic.make_grouped_envs("TwoRooms-v0", 4, {"num_tasks": 2, "max_steps": 5}, "A3C")
    act = actor_critic.evaluation_act(envs, layout, CPU, None, lambda o, s, e, m: (torch.zeros(4, dtype=torch.long), s))
    writer = Writer()
    actor_critic.evaluate(writer, ("eval/r", "eval/s"), envs, act, 3, envs.unwrapped.task_names, 50)
    envs.close()
    names = envs.unwrapped.task_names
    assert set(writer.scalars) >= {"eval/r", "eval/s", f"eval/r/{names[0]}", f"eval/r/{names[1]}"}
    assert all(step == 50 for _, step in writer.scalars.values())
    per_task = np.array([writer.scalars[f"eval/r/{name}"][0] for name in names])
    assert writer.scalars["eval/r"][0] == pytest.approx(per_task.mean())
    assert capsys.readouterr().out.startswith("step 50: eval/r ")


def test_actor_critic_args_have_a_rule_for_every_numeric_field_they_add():
    from mtenvs.train.args import TorchRunArgs
    from mtenvs.train.cli import check_rules

    added = {f.name for f in fields(actor_critic.ActorCriticArgs)} - {f.name for f in fields(TorchRunArgs)}
    # total_timesteps: COMMON_RULES
    numeric = added - {"env_id", "env_kwargs", "clip_rewards", "anneal_lr", "total_timesteps"}
    ruled = {name for rule in actor_critic.ARG_RULES for name in rule.names}
    assert ruled == numeric
    check_rules(actor_critic.ActorCriticArgs(), actor_critic.ARG_RULES)  # the defaults pass
    for name, bad in (("num_envs", 2**17), ("gamma", 0.0), ("rmsprop_alpha", 1.0), ("eval_episodes", 0)):
        with pytest.raises(BadArgument, match=f"--{name.replace('_', '-')} must be"):
            check_rules(replace(actor_critic.ActorCriticArgs(), **{name: bad}), actor_critic.ARG_RULES)


def test_family_defaults_add_a_scripts_own_to_the_shared_ones():
    shared = actor_critic.FAMILY_DEFAULTS
    assert set(shared) == {"tworooms", "atari", "miniworld", "control"}
    assert all(set(defaults) == set(shared["tworooms"]) for defaults in shared.values())
    one_value = actor_critic.family_defaults(ent_coef=0.01)
    assert one_value == {family: {**defaults, "ent_coef": 0.01} for family, defaults in shared.items()}
    assert list(one_value["atari"])[-1] == "ent_coef"  # printed after the shared ones
    per_family = actor_critic.family_defaults(beta={"tworooms": 50.0, "atari": 1e3, "miniworld": 1e3, "control": 5})
    assert [per_family[f]["beta"] for f in ("tworooms", "atari", "miniworld", "control")] == [50.0, 1e3, 1e3, 5]
    images = actor_critic.family_defaults(("tworooms", "atari"), num_envs=16, ent_coef={"tworooms": 1, "atari": 2})
    assert list(images) == ["tworooms", "atari"]
    assert images["atari"] == {**shared["atari"], "num_envs": 16, "ent_coef": 2}
    assert list(images["tworooms"]) == [*shared["tworooms"], "ent_coef"]  # a replaced default keeps its place
    assert shared["atari"]["num_envs"] == 64  # the shared table is not changed
    with pytest.raises(ValueError, match=r"beta: one default per family of \['tworooms', 'atari'\], got \['atari'\]"):
        actor_critic.family_defaults(("tworooms", "atari"), beta={"atari": 1.0})


def test_anneal_lr_falls_linearly_to_zero_and_is_off_by_default():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.RMSprop([parameter], lr=1e-3)
    annealed = actor_critic.ActorCriticArgs(learning_rate=1e-3, total_timesteps=1000, anneal_lr=True)
    rates = []
    for step in (0, 250, 1000, 1200):
        actor_critic.anneal_learning_rate(optimizer, annealed, step)
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates == pytest.approx([1e-3, 7.5e-4, 0.0, 0.0])
    constant = actor_critic.ActorCriticArgs(learning_rate=1e-3, total_timesteps=1000)
    optimizer.param_groups[0]["lr"] = 1e-3
    actor_critic.anneal_learning_rate(optimizer, constant, 500)
    assert optimizer.param_groups[0]["lr"] == 1e-3
