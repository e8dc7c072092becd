"""MultiControl single env: Gymnasium checks, step-for-step equality with Gymnasium's envs, the two
small envs' dynamics, masked actions, and bad input."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mtenvs
from mtenvs.control import (
    TASK_NAMES,
    CarOnHillEnv,
    InvertedPendulumEnv,
    MultiControlEnv,
    car_on_hill,
    inverted_pendulum,
)

GYMNASIUM_IDS = {"CartPole": "CartPole-v1", "Acrobot": "Acrobot-v1", "MountainCar": "MountainCar-v0"}


def test_registered_ids_and_layout():
    env = gym.make("MultiControl-v0")
    base = env.unwrapped
    assert base.task_names == TASK_NAMES == ("CartPole", "Acrobot", "MountainCar", "CarOnHill", "InvertedPendulum")
    assert env.observation_space.shape == (6,) and env.action_space.n == 3
    np.testing.assert_array_equal(base.action_masks, [[1, 1, 0], [1, 1, 1], [1, 1, 1], [1, 1, 0], [1, 1, 1]])
    assert base.episode_steps == (500, 500, 200, 100, 3000)
    assert base.task_discounts == (0.99, 0.99, 0.99, 0.95, 0.95)
    trio = gym.make("MultiControl-GymTrio-v0").unwrapped
    assert trio.task_names == ("CartPole", "Acrobot", "MountainCar")
    pair = MultiControlEnv(tasks=["CarOnHill", "MountainCar"])
    assert pair.observation_space.shape == (2,) and pair.action_space.n == 3
    assert MultiControlEnv(tasks=["CartPole", "CarOnHill"]).action_space.n == 2


@pytest.mark.parametrize("env_id", ["MultiControl-v0", "MultiControl-GymTrio-v0"])
def test_check_env_passes(env_id):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infinity.*")  # CartPole's and the pendulum's velocities
        check_env(gym.make(env_id, render_mode="rgb_array").unwrapped, skip_render_check=False)


def test_passive_checker_gives_no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make("MultiControl-v0", task_schedule="round_robin", episode_steps={"InvertedPendulum": 40})
        _, info = env.reset(seed=0)
        rng = np.random.default_rng(0)
        for _ in range(400):
            action = int(rng.choice(np.flatnonzero(info["action_mask"])))
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                _, info = env.reset()


@pytest.mark.parametrize("task", list(GYMNASIUM_IDS))
def test_gymnasium_tasks_equal_gymnasium_step_for_step(task):
    ours = gym.make("MultiControl-v0", task_schedule="fixed", task=task)
    theirs = gym.make(GYMNASIUM_IDS[task])
    size = theirs.observation_space.shape[0]
    rng = np.random.default_rng(7)
    for episode, seed in enumerate((11, None, 12)):
        obs_a, _ = ours.reset(seed=seed)
        obs_b, _ = theirs.reset(seed=seed)
        np.testing.assert_array_equal(obs_a[:size], obs_b)
        assert not obs_a[size:].any()
        done, steps = False, 0
        while not done:
            action = int(rng.integers(theirs.action_space.n))
            obs_a, reward_a, term_a, trunc_a, info = ours.step(action)
            obs_b, reward_b, term_b, trunc_b, _ = theirs.step(action)
            assert obs_a.dtype == obs_b.dtype == np.float32
            np.testing.assert_array_equal(obs_a[:size], obs_b)
            assert (reward_a, term_a, trunc_a) == (reward_b, term_b, trunc_b)
            assert info["task_id"] == TASK_NAMES.index(task)
            done, steps = term_b or trunc_b, steps + 1
        assert episode != 0 or steps > 5
    ours.close()
    theirs.close()


def test_time_limits_match_gymnasium():
    env = MultiControlEnv(task_schedule="fixed", task="MountainCar")
    env.reset(seed=0)
    for step in range(1, 201):
        _, reward, terminated, truncated, _ = env.step(1)  # no push: never reaches the goal
        assert reward == -1.0 and not terminated and truncated == (step == 200)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(1)


def test_car_on_hill_dynamics_and_rewards():
    env = CarOnHillEnv()
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, np.float32([-0.5, 0.0]))
    assert car_on_hill.hill(-0.5) == pytest.approx(-0.25) and car_on_hill.hill(1.0) == pytest.approx(1 / np.sqrt(6))
    # Valley bottom (p = -0.5, slope 0): p'' = u / m. At p = 0 (slope 1, no curvature): p'' = (u - g) / 2.
    assert car_on_hill._acceleration(-0.5, 0.0, 4.0) == pytest.approx(4.0)
    assert car_on_hill._acceleration(0.0, 1.0, 4.0) == pytest.approx((4.0 - 9.81) / 2)
    p, v = car_on_hill.integrate(-0.5, 0.0, 4.0)
    assert 0.35 < v < 0.4 and -0.5 < p < -0.48  # the slope steepens as it moves, so a little less than 0.4
    # Always pushing right is too weak to climb: the car rocks and never reaches the top in time.
    env.reset()
    rewards = []
    while True:
        _, reward, terminated, truncated, _ = env.step(1)
        rewards.append(reward)
        if terminated or truncated:
            break
    assert set(rewards) == {0.0} and truncated and len(rewards) == 100
    # Backing up the left slope first, then pushing right, reaches the goal: reward +1, terminal.
    env.reset()
    actions = [0] * 8 + [1] * 40
    for action in actions:
        _, reward, terminated, truncated, _ = env.step(action)
        if terminated:
            break
    assert terminated and reward == 1.0


def test_car_on_hill_penalises_leaving_left():
    env = CarOnHillEnv()
    obs, _ = env.reset(seed=0)
    for _ in range(100):  # push along the velocity: the car swings higher and leaves over the left rim
        obs, reward, terminated, _, _ = env.step(1 if obs[1] >= 0 else 0)
        if terminated:
            break
    assert terminated and reward == -1.0 and obs[0] < -1
    assert env.observation_space.contains(obs)


def test_inverted_pendulum_dynamics_and_noise():
    env = InvertedPendulumEnv()
    obs, _ = env.reset(seed=3)
    assert np.all(np.abs(obs) <= 0.1)
    # Upright and at rest with no force, theta'' = 0; tilted, gravity pulls it over.
    assert inverted_pendulum.integrate(0.0, 0.0, 0.0) == (0.0, 0.0)
    theta, theta_dot = inverted_pendulum.integrate(0.1, 0.0, 0.0)
    expected_acc = 9.8 * np.sin(0.1) / (4 * 0.5 / 3 - 0.1 * 2 * 0.5 * np.cos(0.1) ** 2)
    assert expected_acc * 0.1 < theta_dot < expected_acc * 0.1 * 1.05 and theta > 0.1  # it speeds up as it tilts
    # Pushing the cart right (+50 N) tips the pendulum left (theta decreases).
    assert inverted_pendulum.integrate(0.0, 0.0, 50.0)[1] < 0

    # The force noise comes from the seeded RNG: same seed, same trajectory; another seed differs.
    def trajectory(seed):
        env.reset(seed=seed)
        return [env.step(1)[0] for _ in range(5)]

    np.testing.assert_array_equal(trajectory(5), trajectory(5))
    assert not np.array_equal(trajectory(5), trajectory(6))


def test_inverted_pendulum_falls_with_reward_minus_one():
    env = InvertedPendulumEnv()
    env.reset(seed=0)
    rewards = []
    while True:
        obs, reward, terminated, truncated, _ = env.step(2)
        rewards.append(reward)
        if terminated or truncated:
            break
    assert terminated and rewards[-1] == -1.0 and set(rewards[:-1]) <= {0.0}
    assert abs(obs[0]) > np.pi / 2 and env.observation_space.contains(obs)


@pytest.mark.parametrize("env_cls", [CarOnHillEnv, InvertedPendulumEnv])
@pytest.mark.parametrize("bad", [-1, 3, 1.5, "left", None, np.array([0, 1])])
def test_small_envs_reject_out_of_range_actions(env_cls, bad):
    env = env_cls()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside the action space"):
        env.step(bad)


@pytest.mark.parametrize("env_cls", [CarOnHillEnv, InvertedPendulumEnv])
@pytest.mark.parametrize("bad", [True, np.bool_(False)])
def test_small_envs_refuse_bools(env_cls, bad):
    env = env_cls()
    env.reset(seed=0)
    with pytest.raises(TypeError, match=r"is a bool; an action is an int in the action space Discrete\(\d\) \(0 force"):
        env.step(bad)


@pytest.mark.parametrize("env_cls", [CarOnHillEnv, InvertedPendulumEnv])
def test_small_envs_pass_check_env_and_render(env_cls):
    env = env_cls(render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infinity.*")  # the pendulum's angular velocity
        warnings.filterwarnings("ignore", message=".*not having a spec.*")  # standalone, not registered
        check_env(env, skip_render_check=False)
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert (frame != 255).any() and (frame == 255).any()  # something drawn on a white background
    with pytest.raises(ValueError, match="max_episode_steps"):
        env_cls(max_episode_steps=0)


def test_masked_action_modes():
    clamp = MultiControlEnv(task_schedule="fixed", task="CartPole")
    reference = MultiControlEnv(task_schedule="fixed", task="CartPole")
    _, info = clamp.reset(seed=4)
    reference.reset(seed=4)
    np.testing.assert_array_equal(info["action_mask"], [1, 1, 0])
    for _ in range(10):
        np.testing.assert_array_equal(clamp.step(2)[0], reference.step(1)[0])  # 2 = the task's highest, push right
    strict = MultiControlEnv(task_schedule="fixed", task="CarOnHill", masked_action="raise")
    strict.reset(seed=0)
    with pytest.raises(ValueError, match=r"not one of CarOnHill's actions \[0, 1\]"):
        strict.step(2)
    with pytest.raises(ValueError, match="outside the union action space"):
        clamp.step(3)


def test_seeded_task_choice_and_simulators_are_deterministic():
    def rollout(seed):
        env = gym.make("MultiControl-v0", episode_steps=dict.fromkeys(TASK_NAMES, 20))
        obs, info = env.reset(seed=seed)
        trace, rng = [(obs, info["task_id"])], np.random.default_rng(0)
        for _ in range(300):
            obs, reward, terminated, truncated, info = env.step(int(rng.integers(2)))
            trace.append((obs, reward, info["task_id"]))
            if terminated or truncated:
                obs, info = env.reset()
                trace.append((obs, info["task_id"]))
        return trace

    a, b, c = rollout(1), rollout(1), rollout(2)
    assert len(a) == len(b) and all(np.array_equal(x[0], y[0]) and x[1:] == y[1:] for x, y in zip(a, b, strict=True))
    assert len({t[-1] for t in a}) > 1  # several tasks were drawn
    assert not (len(a) == len(c) and all(np.array_equal(x[0], y[0]) for x, y in zip(a, c, strict=True)))


def test_pickle_round_trip_continues_identically():
    env = gym.make("MultiControl-v0", task_schedule="round_robin", render_mode="rgb_array")
    env.reset(seed=2)
    env.render()  # pygame state must not stop pickling
    for _ in range(5):
        env.step(1)
    clone = pickle.loads(pickle.dumps(env))
    rng = np.random.default_rng(1)
    for _ in range(1200):
        action = int(rng.integers(2))
        a, b = env.step(action), clone.step(action)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y) if isinstance(x, np.ndarray) else None
        assert a[1:4] == b[1:4] and a[4]["task_id"] == b[4]["task_id"]
        if a[2] or a[3]:
            np.testing.assert_array_equal(env.reset()[0], clone.reset()[0])


def test_rgb_array_frames_of_every_task():
    env = MultiControlEnv(render_mode="rgb_array")
    assert env.render() is None  # nothing to draw before the first reset
    for task in TASK_NAMES:
        env.reset(seed=0, options={"task": task})
        frame = env.render()
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3 and frame.std() > 0
    assert MultiControlEnv().render() is None


def test_task_observation_and_episode_statistics():
    env = mtenvs.RecordTaskEpisodeStatistics(gym.make("MultiControl-v0", task_obs=True, task_schedule="fixed", task=3))
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs["task"], [0, 0, 0, 1, 0])
    while True:
        obs, _, terminated, truncated, info = env.step(1 if obs["obs"][1] >= 0 else 0)
        if terminated or truncated:
            break
    assert info["episode"]["task"] == "CarOnHill" and info["episode"]["r"] == -1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tasks": ["CartPole", "Pendulum"]}, "Unknown task 'Pendulum'; valid tasks: CartPole, Acrobot"),
        ({"tasks": []}, "non-empty list"),
        ({"tasks": "CartPole"}, "non-empty list"),
        ({"tasks": ["CartPole", "CartPole"]}, "twice"),
        ({"masked_action": "noop"}, "valid: clamp, raise"),
        ({"episode_steps": {"CartPole": 0}}, r"episode_steps\['CartPole'\] must be an int >= 1"),
        ({"episode_steps": {"CartPole": 2.5}}, "must be an int"),
        ({"episode_steps": {"Foo": 10}}, "not one of the tasks"),
        ({"episode_steps": [10]}, "must be a dict"),
        ({"render_mode": "human"}, "render_mode"),
        ({"task_schedule": "fixed", "task": "Pendulum"}, "Unknown task"),
        ({"task_schedule": "fixed", "task": 5}, "out of range"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MultiControlEnv(**kwargs)


def test_step_before_reset_raises():
    with pytest.raises(RuntimeError, match="reset"):
        MultiControlEnv().step(0)


def cross_entropy_method(env: gym.Env, seed: int, iterations: int = 6, population: int = 12) -> list[float]:
    """A mask-unaware learner: linear policies argmax(W obs) over all of ``env.action_space``, improved by the
    cross-entropy method. Returns the mean return of each iteration's population."""
    rng = np.random.default_rng(seed)
    n_obs, n_actions = env.observation_space.shape[0], int(env.action_space.n)
    mean, std = np.zeros((n_actions, n_obs)), np.ones((n_actions, n_obs))
    history, episode_seed = [], seed
    for _ in range(iterations):
        weights = mean + std * rng.standard_normal((population, n_actions, n_obs))
        returns = []
        for w in weights:
            obs, _ = env.reset(seed=episode_seed)
            episode_seed += 1
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(int(np.argmax(w @ obs)))
                total, done = total + float(reward), terminated or truncated
            returns.append(total)
        elite = weights[np.argsort(returns)[-population // 4 :]]
        mean, std = elite.mean(0), elite.std(0) + 0.1
        history.append(float(np.mean(returns)))
    return history


def test_a_single_task_set_is_the_plain_gymnasium_env_for_a_mask_unaware_learner():
    """tasks=["CartPole"] has CartPole's own spaces, so a learner that knows nothing of masks learns exactly as on
    CartPole-v1 (same seeds: the same returns). task_schedule="fixed" on the default set would add a third action
    (clamped to "push right") that such a learner must learn to avoid: docs/multi_control.md."""
    ours, theirs = gym.make("MultiControl-v0", tasks=["CartPole"]), gym.make("CartPole-v1")
    assert ours.action_space == theirs.action_space == gym.spaces.Discrete(2)
    assert ours.observation_space.shape == theirs.observation_space.shape == (4,)
    learned_ours, learned_theirs = cross_entropy_method(ours, seed=3), cross_entropy_method(theirs, seed=3)
    assert learned_ours == learned_theirs
    assert learned_ours[-1] > 4 * 23.7  # it learns: four times the random policy's mean return
