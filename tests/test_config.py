"""Command-line overrides (nanor1/config.py): `--key=value` parsed by the field's type, typos are errors."""
import dataclasses
from dataclasses import dataclass
from typing import Optional

import pytest

from nanor1.config import apply_preset, field_comments, parse_overrides, parse_overrides_multi, parse_with_preset


@dataclass
class Cfg:
    steps: int = 10
    lr: float = 1e-3
    resume: bool = False
    out_dir: str = "out"
    families: tuple[str, ...] = ("countdown",)
    sizes: tuple[int, ...] = (1, 2)
    max_len: Optional[int] = None
    note: str | None = "x"


@dataclass
class Run:
    preset: str = "small"  # small | big
    steps: int = 100       # optimizer steps
    warmup: int = 10       # warmup steps
    seed: int = 0


PRESETS = {"small": dict(steps=30, model="s"), "big": dict(steps=3000, warmup=0, model="b")}


@dataclass
class Other:
    beta: float = 0.04
    num_generations: int = 8


def test_each_field_type_is_parsed():
    cfg = parse_overrides(Cfg(), ["--steps=1_000", "--lr=3e-4", "--resume=false", "--out_dir=runs/a",
                                  "--families=countdown, linear", "--sizes=3,4,5", "--max_len=64", "--note=none"])
    assert cfg == Cfg(steps=1000, lr=3e-4, resume=False, out_dir="runs/a", families=("countdown", "linear"),
                      sizes=(3, 4, 5), max_len=64, note=None)
    assert type(cfg.steps) is int and type(cfg.lr) is float


def test_optional_field_accepts_none_and_a_value():
    assert parse_overrides(Cfg(max_len=5), ["--max_len=None"]).max_len is None
    assert parse_overrides(Cfg(), ["--note=hello"]).note == "hello"


def test_dashes_in_a_key_mean_underscores():
    assert parse_overrides(Cfg(), ["--out-dir=b"]).out_dir == "b"


def test_bare_flag_sets_a_bool():
    assert parse_overrides(Cfg(), ["--resume"]).resume is True


def test_bare_flag_for_a_non_bool_is_an_error(capsys):
    with pytest.raises(SystemExit) as e:
        parse_overrides(Cfg(), ["--steps"])
    assert e.value.code == 2
    assert "--steps" in capsys.readouterr().err


def test_unknown_key_exits_2_naming_the_key(capsys):
    with pytest.raises(SystemExit) as e:
        parse_overrides(Cfg(), ["--stepz=5"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--stepz" in err and "--steps" in err  # names the typo and suggests the field


def test_wrong_type_names_key_and_value(capsys):
    with pytest.raises(SystemExit) as e:
        parse_overrides(Cfg(), ["--steps=abc"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--steps" in err and "abc" in err and "int" in err


def test_bad_bool_value_is_an_error(capsys):
    with pytest.raises(SystemExit) as e:
        parse_overrides(Cfg(), ["--resume=maybe"])
    assert e.value.code == 2
    assert "maybe" in capsys.readouterr().err


def test_positional_argument_is_an_error_unless_allowed(capsys):
    with pytest.raises(SystemExit) as e:
        parse_overrides(Cfg(), ["steps=3"])
    assert e.value.code == 2
    assert parse_overrides(Cfg(), ["file.txt", "--steps=3"], allow_positional=True).steps == 3


def test_help_exits_0_and_lists_fields(capsys):
    with pytest.raises(SystemExit) as e:
        parse_overrides(Cfg(), ["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--steps" in out and "--out_dir" in out


def test_values_are_never_evaluated(tmp_path, monkeypatch, capsys):
    code = "__import__('os').system('touch pwned')"
    monkeypatch.chdir(tmp_path)
    assert parse_overrides(Cfg(), [f"--out_dir={code}"]).out_dir == code  # stored verbatim
    with pytest.raises(SystemExit) as e:
        parse_overrides(Cfg(), [f"--steps={code}"])
    assert e.value.code == 2 and "--steps" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_overrides(Cfg(), ["--lr=2**10"])
    assert not (tmp_path / "pwned").exists()


def test_multi_routes_each_key_to_its_dataclass():
    cfg, other = parse_overrides_multi([Cfg(), Other()], ["--steps=3", "--beta=0.0", "--num_generations=4"])
    assert cfg.steps == 3 and other.beta == 0.0 and other.num_generations == 4
    assert cfg.lr == Cfg().lr


def test_multi_rejects_unknown_keys(capsys):
    with pytest.raises(SystemExit) as e:
        parse_overrides_multi([Cfg(), Other()], ["--beta=0.1", "--num_generation=4"])
    assert e.value.code == 2
    assert "--num_generation" in capsys.readouterr().err


def test_multi_help_exits_0_listing_both(capsys):
    with pytest.raises(SystemExit) as e:
        parse_overrides_multi([Cfg(), Other()], ["-h"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--steps" in out and "--beta" in out


# ----------------------------------------------------------------------------- presets

def test_a_preset_fills_the_fields_no_flag_set():
    cfg, explicit = parse_with_preset(Run(), ["--preset=big", "--seed=3"], PRESETS)
    assert cfg == Run(preset="big", steps=3000, warmup=0, seed=3) and explicit == {"preset", "seed"}


def test_a_flag_wins_over_the_preset_even_at_the_default_value():
    cfg, _ = parse_with_preset(Run(), ["--preset=big", "--warmup=10", "--steps=0"], PRESETS)
    assert cfg.warmup == 10 and cfg.steps == 0  # a real value, not "the preset's"


def test_without_flags_the_default_preset_applies():
    assert parse_with_preset(Run(), [], PRESETS)[0] == Run(steps=30)


def test_a_config_built_in_code_keeps_the_values_it_changed():
    assert apply_preset(Run(preset="big", steps=5), PRESETS) == Run(preset="big", steps=5, warmup=0)
    assert apply_preset(Run(preset="big", warmup=0), PRESETS, explicit={"warmup"}).warmup == 0


def test_an_unknown_preset_names_the_choices():
    with pytest.raises(SystemExit, match="--preset='huge': choose one of \\['big', 'small'\\]"):
        parse_with_preset(Run(), ["--preset=huge"], PRESETS)


def test_help_shows_each_fields_description_and_the_chosen_presets_value(capsys):
    with pytest.raises(SystemExit) as e:
        parse_with_preset(Run(), ["--preset=big", "--help"], PRESETS)
    assert e.value.code == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "3000 (default 100)" in lines["--steps"] and lines["--steps"].endswith("optimizer steps")
    assert "'big'" in lines["--preset"] and lines["--seed"].split()[1:] == ["int", "0"]


def test_field_descriptions_come_from_the_trailing_comments():
    assert field_comments(Run) == {"preset": "small | big", "steps": "optimizer steps", "warmup": "warmup steps"}
    made = dataclasses.make_dataclass("Made", [("steps", int, dataclasses.field(default=1))])  # no source
    assert field_comments(made) == {}
