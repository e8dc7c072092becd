"""mtenvs.train.cli: argument rules, --env-kwargs, family defaults, the resume rule and the exit-2 runner."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import pytest

from mtenvs.train import cli


@dataclasses.dataclass
class Args:
    exp_name: str = "demo"
    seed: int = 1
    cuda: bool = True
    track: bool = False
    save_model: bool = False
    torch_threads: int = 1
    checkpoint_interval: int = 10
    progress_interval: float = 30.0
    resume: str | None = None
    env_id: str = "TwoRooms-v0"
    total_timesteps: int | None = None
    learning_rate: float | None = None
    hidden_sizes: tuple[int, ...] = (8, 8)


RULES = (*cli.COMMON_RULES, cli.number(["learning_rate"], 0.0, 1.0, open_low=True))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("seed", -1, "--seed must be an integer in [0, 1073741824]"),
        ("seed", True, "--seed must be an integer"),  # a bool is not a number
        ("learning_rate", 0.0, r"--learning-rate must be a number in (0, 1]"),
        ("learning_rate", float("nan"), "--learning-rate"),
        ("learning_rate", 1e308, "--learning-rate"),
        ("progress_interval", float("inf"), "--progress-interval"),
        ("total_timesteps", 0, "--total-timesteps must be an integer >= 1"),
        ("exp_name", "../x", "--exp-name must be a plain name"),
        ("exp_name", "a/b", "--exp-name"),
        ("exp_name", "a__b", "--exp-name"),
        ("exp_name", "", "--exp-name"),
    ],
)
def test_rules_name_the_flag_and_what_is_allowed(field, value, message):
    with pytest.raises(cli.BadArgument, match=message.replace("[", r"\[").replace("(", r"\(")):
        cli.check_rules(dataclasses.replace(Args(), **{field: value}), RULES)


def test_fields_left_for_defaults_and_good_values_pass():
    cli.check_rules(Args(), RULES)
    cli.check_rules(Args(learning_rate=1.0, seed=2**30, exp_name="a_b.c-1"), RULES)


def test_env_kwargs_must_be_a_json_object_without_reserved_keys():
    assert cli.parse_env_kwargs('{"num_tasks": 2}', {}) == {"num_tasks": 2}
    for text in ("{num_tasks: 2}", "[1]"):
        with pytest.raises(cli.BadArgument, match="--env-kwargs must be a JSON object"):
            cli.parse_env_kwargs(text, {})
    with pytest.raises(cli.BadArgument, match="must not set 'num_envs': the script sets it \\(--num-envs\\)"):
        cli.parse_env_kwargs('{"num_envs": 3}', {"num_envs": "--num-envs"})


def test_build_env_reports_the_envs_own_refusal_against_env_kwargs():
    def refuse():
        raise TypeError("unexpected keyword 'bogus'")

    with pytest.raises(cli.BadArgument, match=r'^--env-kwargs \{"bogus": 1\} for X-v0: unexpected keyword'):
        cli.build_env(refuse, "X-v0", {"bogus": 1})


def test_family_defaults_use_the_declared_family(capsys):
    defaults = {"tworooms": {"learning_rate": 0.5}, "control": {"learning_rate": 0.25}}
    assert cli.apply_family_defaults(Args(), defaults, "demo.py").learning_rate == 0.5
    assert "tworooms defaults applied: learning_rate=0.5" in capsys.readouterr().out
    kept = cli.apply_family_defaults(Args(learning_rate=0.1, env_id="MultiControl-v0"), defaults, "demo.py")
    assert kept.learning_rate == 0.1 and capsys.readouterr().out == ""
    with pytest.raises(cli.BadArgument, match=r"--env-id MultiMaze-v0 is a miniworld env; demo\.py supports tworooms"):
        cli.apply_family_defaults(Args(env_id="MultiMaze-v0"), defaults, "demo.py")
    for env_id in ("CartPole-v1", "Nope-v0"):
        with pytest.raises(cli.BadArgument, match=f"--env-id '{env_id}' is not an mtenvs id"):
            cli.family_of(env_id, defaults, "demo.py")


def saved(**changes) -> dict:
    return dataclasses.asdict(Args(total_timesteps=100, learning_rate=0.5, hidden_sizes=[4])) | changes


def test_resume_restores_the_checkpoints_arguments():
    args = cli.resume_args(Args(resume="c.pt", cuda=False, progress_interval=1.0), saved(), reached_step=50)
    assert args.total_timesteps == 100 and args.learning_rate == 0.5 and args.resume == "c.pt"
    assert args.hidden_sizes == (4,) and args.cuda is False and args.progress_interval == 1.0


def test_resume_with_a_budget_extends_it_and_refuses_one_already_reached():
    assert cli.resume_args(Args(resume="c.pt", total_timesteps=300), saved(), 50).total_timesteps == 300
    with pytest.raises(cli.BadArgument, match="--total-timesteps 50 is not beyond the checkpoint's step 50"):
        cli.resume_args(Args(resume="c.pt", total_timesteps=50), saved(), 50)


def test_resume_refuses_other_changed_flags_and_foreign_arguments():
    with pytest.raises(cli.BadArgument, match="--learning-rate, --seed cannot be changed"):
        cli.resume_args(Args(resume="c.pt", seed=5, learning_rate=0.1), saved(), 50)
    with pytest.raises(cli.BadArgument, match=r"unknown \['alien'\]"):
        cli.resume_args(Args(resume="c.pt"), saved() | {"alien": 1}, 50)


def test_a_checkpoint_from_before_a_flag_existed_resumes_with_the_behaviour_it_had():
    from mtenvs.train.actor_critic import ActorCriticArgs

    before = dataclasses.asdict(ActorCriticArgs(total_timesteps=100, learning_rate=0.5))
    del before["anneal_lr"]  # written before --anneal-lr existed: its run had a constant rate
    args = cli.resume_args(ActorCriticArgs(resume="c.pt"), before, 50)
    assert args.anneal_lr is False and args.learning_rate == 0.5
    with pytest.raises(cli.BadArgument, match=r"missing \['learning_rate'\]"):  # only declared additions
        cli.resume_args(ActorCriticArgs(resume="c.pt"), {k: v for k, v in before.items() if k != "learning_rate"}, 50)


def test_memory_check_says_how_much_is_needed():
    cli.require_memory(1024, "--buffer-size 1")
    with pytest.raises(cli.BadArgument, match=r"--buffer-size 10\*\*15 needs 931322.6 GiB of memory; .* GiB are"):
        cli.require_memory(10**15, "--buffer-size 10**15")


def test_run_turns_a_bad_argument_into_one_line_and_exit_2(tmp_path):
    script = tmp_path / "demo.py"
    script.write_text(
        textwrap.dedent(
            """
            import dataclasses
            from mtenvs.train import cli

            @dataclasses.dataclass
            class Args:
                seed: int = 1
                \"\"\"seed\"\"\"

            def main(args):
                cli.check_rules(args, [cli.integer(["seed"], 0, 9)])
                print("trained")

            cli.run(main, Args, "demo.py")
            """
        )
    )
    ok = subprocess.run([sys.executable, script, "--seed", "3"], capture_output=True, text=True)
    bad = subprocess.run([sys.executable, script, "--seed", "12"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == "trained\n"
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "demo.py: error: --seed must be an integer in [0, 9], got 12.\n"


def test_shared_flags_are_inherited_with_their_docstrings_and_overridable():
    import tyro

    from mtenvs.train.args import TorchRunArgs

    @dataclasses.dataclass
    class ScriptArgs(TorchRunArgs):
        exp_name: str = "script"
        checkpoint_interval: int = 500
        learning_rate: float = 0.1
        """learning rate"""

    args = tyro.cli(ScriptArgs, args=["--no-cuda", "--seed", "4"])
    assert (args.exp_name, args.checkpoint_interval, args.cuda, args.seed, args.progress_interval) == (
        "script",
        500,
        False,
        4,
        30.0,
    )
    usage = subprocess.run(
        [sys.executable, "-c", "import tyro, sys; from mtenvs.train.args import TorchRunArgs; tyro.cli(TorchRunArgs)",
         "--help"], capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "--progress-interval" in usage and "at least every this many seconds" in usage


def test_arguments_of_the_wrong_type_from_a_checkpoint_are_one_line_errors():
    with pytest.raises(cli.BadArgument, match=r"--resume c.pt: its arguments cannot be read"):
        cli.resume_args(Args(resume="c.pt"), saved(hidden_sizes=3), 50)
    with pytest.raises(cli.BadArgument, match="--total-timesteps must be an integer >= 1, got 'many'"):
        cli.check_rules(Args(total_timesteps="many"), RULES)
