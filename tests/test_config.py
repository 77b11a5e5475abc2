"""Configs: YAML loading, Hydra-style overrides, sweeps and placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from labbook.core.config import (
    ConfigError,
    apply,
    expand,
    load,
    parse_override,
    parse_value,
    smoke_overrides,
    substitute,
)

BASE = {"lr": 0.1, "seed": 0, "model": {"depth": 2, "act": "relu"}, "tags": ["a"], "smoke": {"steps": 5}}


def run(*overrides: str) -> dict:
    return apply(BASE, [parse_override(o) for o in overrides])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3e-4", 3e-4),
        ("4", 4),
        ("-2", -2),
        ("0.5", 0.5),
        ("true", True),
        ("False", False),
        ("null", None),
        ("adam", "adam"),
        ("'1'", "1"),
        ('"two words"', "two words"),
        ("[1, 2]", [1, 2]),
        ("{a: 1}", {"a": 1}),
        ("", ""),
    ],
)
def test_values_are_read_as_a_user_means_them(text: str, value) -> None:
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_set_add_force_delete() -> None:
    out = run("lr=3e-4", "model.depth=4", "+model.width=128", "++seed=7", "~tags", "+new.deep.key=x")
    assert out["lr"] == 3e-4 and out["model"] == {"depth": 4, "act": "relu", "width": 128}
    assert out["seed"] == 7 and "tags" not in out and out["new"] == {"deep": {"key": "x"}}
    assert BASE["lr"] == 0.1 and "tags" in BASE  # the original is untouched
    assert run("~model.act=relu")["model"] == {"depth": 2}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("lrr=1", "lrr is not in the config; check the spelling, or add it with +lrr=1"),
        ("model.width=1", "model.width is not in the config"),
        ("+lr=1", "lr is already in the config; set it with lr=1"),
        ("~nope", "cannot delete nope: it is not in the config"),
        ("~model.act=gelu", "cannot delete model.act='gelu': its value is 'relu'"),
        ("lr.x=1", "lr is not a mapping"),
        ("lr", "'lr' has no value; write lr=VALUE"),
        ("=3", "'=3' is not an override"),
        ("1abc=3", "'1abc=3' is not an override"),
        ("tags=[1,2", "unbalanced quotes or brackets"),
        ("seed=1,,2", "has an empty value between commas"),
        ("seed=range(a)", "write range(N), range(A, B) or range(A, B, STEP)"),
        ("seed=range(3, 3)", "is empty; nothing to sweep over"),
    ],
)
def test_bad_overrides_say_what_to_do(override: str, message: str) -> None:
    with pytest.raises(
        ConfigError,
        match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+").replace("[", r"\["),
    ):
        run(override)


def test_sweeps_expand_to_a_grid_in_order() -> None:
    overrides = [parse_override(o) for o in ("seed=0,1,2", "lr=1e-3,3e-4", "model.depth=4")]
    grid = expand(overrides)
    assert len(grid) == 6
    configs = [apply(BASE, combo) for combo in grid]
    assert [(c["seed"], c["lr"]) for c in configs] == [
        (0, 1e-3),
        (0, 3e-4),
        (1, 1e-3),
        (1, 3e-4),
        (2, 1e-3),
        (2, 3e-4),
    ]
    assert all(c["model"]["depth"] == 4 for c in configs)
    assert [
        c["seed"] for c in map(lambda g: apply(BASE, g), expand([parse_override("seed='range(5)'")]))
    ] == [0, 1, 2, 3, 4]
    assert parse_override("seed=range(2, 10, 4)").values == (2, 6)
    assert parse_override("name='a,b'").values == ("a,b",)  # commas inside quotes are not a sweep
    assert parse_override("tags=[a,b]").values == (["a", "b"],)


def test_smoke_section_applies_on_top() -> None:
    out = apply(BASE, smoke_overrides({**BASE, "smoke": {"steps": 20, "data": {"fraction": 0.01}}}))
    assert out["steps"] == 20 and out["data"] == {"fraction": 0.01}
    with pytest.raises(ConfigError, match="needs a 'smoke:' section"):
        smoke_overrides({"lr": 1})


def test_placeholders_fill_the_command(tmp_path: Path) -> None:
    argv = ["python", "train.py", "--lr", "{lr}", "--depth={model.depth}", "--cfg", "{config}", '{"json": 1}']
    out = substitute(argv, BASE, tmp_path / "c.yaml")
    assert out == [
        "python",
        "train.py",
        "--lr",
        "0.1",
        "--depth=2",
        "--cfg",
        str(tmp_path / "c.yaml"),
        '{"json": 1}',
    ]
    with pytest.raises(ConfigError, match=r"placeholder \{model.width\} names no config key"):
        substitute(["{model.width}"], BASE, None)


def test_yaml_errors_name_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: 0.1\nmodel:\n  depth: 2\n   act: relu\n")
    with pytest.raises(ConfigError, match=rf"{bad}:4:\d+: .*fix the YAML there"):
        load(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load(listy)
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_text("")
    assert load(tmp_path / "empty.yaml") == {}
