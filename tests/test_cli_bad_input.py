"""Bad input to the command line and to the helpers it runs: refused before anything runs, with a
message naming the option (argparse's exit status 2, or ``mtenvs <command>: error: ...``)."""

from __future__ import annotations

import gymnasium as gym
import pytest

import mtenvs
from mtenvs.cli import main
from mtenvs.report.runs import load_tensorboard_runs
from mtenvs.throughput import measure

# argparse refuses these itself: exit status 2 and "argument --flag: ..." on stderr.
PARSER_CASES = [
    (["throughput", "TwoRooms-v0", "--num-envs", "0"], "--num-envs", "must be an int >= 1, got 0"),
    (["throughput", "TwoRooms-v0", "--num-envs", "-4"], "--num-envs", "must be an int >= 1"),
    (["throughput", "TwoRooms-v0", "--num-envs", "2.5"], "--num-envs", "expected an int >= 1, got '2.5'"),
    (["throughput", "TwoRooms-v0", "--seconds", "0"], "--seconds", "must be a finite number of seconds > 0"),
    (["throughput", "TwoRooms-v0", "--seconds", "nan"], "--seconds", "must be a finite number of seconds > 0"),
    (["throughput", "TwoRooms-v0", "--seconds", "inf"], "--seconds", "must be a finite number of seconds > 0"),
    (["throughput", "TwoRooms-v0", "--seconds", "-1"], "--seconds", "must be a finite number of seconds > 0"),
    (["throughput", "TwoRooms-v0", "--seconds", "ten"], "--seconds", "expected a number of seconds, got 'ten'"),
    (["render", "TwoRooms-v0", "--steps", "0"], "--steps", "must be an int >= 1"),
    (["render", "TwoRooms-v0", "--frames", "-2"], "--frames", "must be an int >= 1"),
]


@pytest.mark.parametrize(("argv", "flag", "words"), PARSER_CASES)
def test_parser_refuses_bad_options(capsys, argv, flag, words):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: {words}" in err


# The commands check what argparse cannot (bounds that depend on the env id) and print one line.
COMMAND_CASES = [
    (["throughput", "MultiAtari-PongBreakout-v0", "--num-envs", "100000"], "num_envs must be an int in 1..1024"),
    (["throughput", "TwoRooms-v0", "--seconds", "7200"], "seconds must be a finite number in (0, 3600], got 7200.0"),
    (["throughput", "CartPole-v1"], "No benchmark for 'CartPole-v1'; families with one: MultiAtari, TwoRooms"),
    (["render", "TwoRooms-v0", "--steps", "1000000"], "steps must be an int in 1..5000"),
    (["render", "TwoRooms-v0", "--frames", "1000"], "frames must be an int in 1..100"),
    (["render", "TwoRooms-v0", "--seed", "-1"], "seed must be an int >= 0"),
    # The id names the output files: a gym "module:Id" id would put ':' in a file name.
    (["render", "mtenvs:TwoRooms-v0"], "the env id must be a plain name"),
    (["render", "../TwoRooms-v0"], "the env id must be a plain name"),
]


@pytest.mark.parametrize(("argv", "words"), COMMAND_CASES)
def test_commands_refuse_out_of_bounds_options(capsys, tmp_path, argv, words):
    if argv[0] == "render":
        argv = [*argv, "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mtenvs {argv[0]}: error: ") and words in err
    assert not any(tmp_path.iterdir())  # nothing was written


def test_benchmark_refuses_an_env_id_that_would_leave_the_log_dir(capsys, tmp_path):
    """Regression: the log of --env-ids ../../../x went three folders above --log-dir."""
    log_dir = tmp_path / "a" / "b" / "logs"
    argv = ["benchmark", "--commands", "true", "--env-ids", "../../../x", "--seeds", "1", "--log-dir", str(log_dir)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtenvs benchmark: error: an --env-ids entry must be a plain name") and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


NON_FINITE_SECONDS = [float("nan"), float("inf"), 0.0, -1.0]


@pytest.mark.parametrize("seconds", NON_FINITE_SECONDS)
def test_measure_refuses_seconds_that_would_never_end(seconds):
    """``measure("TwoRooms-v0", seconds=nan)`` used to loop forever."""
    with pytest.raises(ValueError, match="seconds must be a finite number"):
        measure("TwoRooms-v0", seconds=seconds)


@pytest.mark.parametrize(("num_envs", "error"), [(0, ValueError), (2.5, TypeError), (True, TypeError)])
def test_measure_refuses_bad_num_envs(num_envs, error):
    with pytest.raises(error, match=r"num_envs must be an int in 1\.\."):
        measure("TwoRooms-v0", num_envs=num_envs, seconds=0.1)


def test_report_reads_a_single_run_folder(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "TwoRooms-v0__distral__1__1700000000"
    writer = SummaryWriter(str(run))
    for step in range(3):
        writer.add_scalar("charts/episodic_return", float(step), step)
    writer.close()
    runs, _ = load_tensorboard_runs(run)
    assert [r.name for r in runs] == [run.name]
    assert list(runs[0].scalars["charts/episodic_return"].values) == [0.0, 1.0, 2.0]


def test_report_on_a_misnamed_run_folder_says_to_point_at_the_parent(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "my_run"
    writer = SummaryWriter(str(run))
    writer.add_scalar("charts/episodic_return", 1.0, 0)
    writer.close()
    with pytest.raises(ValueError, match=r"holds event files itself but its name is not a run name.*point the report"):
        load_tensorboard_runs(run)


# ---------------------------------------------------------------------- helpers on non-mtenvs envs

HELPER_CASES = [
    (mtenvs.TaskObservation, lambda: gym.make("CartPole-v1")),
    (mtenvs.RecordTaskEpisodeStatistics, lambda: gym.make("CartPole-v1")),
    (mtenvs.TaskObservationVector, lambda: gym.make_vec("CartPole-v1", num_envs=2)),
    (mtenvs.RecordTaskEpisodeStatisticsVector, lambda: gym.make_vec("CartPole-v1", num_envs=2)),
]


@pytest.mark.parametrize(("wrapper", "make"), HELPER_CASES, ids=lambda x: getattr(x, "__name__", ""))
def test_contract_wrappers_refuse_envs_that_are_not_mtenvs_envs(wrapper, make):
    env = make()
    with pytest.raises(TypeError, match=rf"{wrapper.__name__} needs an mtenvs (vector )?env .*CartPole\w* has no"):
        wrapper(env)
    env.close()


WRONG_KIND_CASES = [
    (mtenvs.TaskObservation, lambda: gym.make_vec("TwoRooms-v0", num_envs=8), "use TaskObservationVector"),
    (mtenvs.TaskObservationVector, lambda: gym.make("TwoRooms-v0"), "use TaskObservation for it"),
    (mtenvs.RecordTaskEpisodeStatisticsVector, lambda: gym.make("TwoRooms-v0"), "use RecordTaskEpisodeStatistics "),
]


@pytest.mark.parametrize(
    ("wrapper", "make", "words"), WRONG_KIND_CASES, ids=["single-on-vector", "vector-on-single", "stats"]
)
def test_contract_wrappers_refuse_the_wrong_kind_of_env(wrapper, make, words):
    with pytest.raises(TypeError, match=rf"{wrapper.__name__} wraps a (single|vector) env, got .*{words}"):
        wrapper(make())
