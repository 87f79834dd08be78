"""Scenario validation: every bad input is one line naming the file, the key path and the value."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from conftest import base_data, write_case

from sim.model.policies import RETALIATION_POLICIES, VIOLATION_RULES
from sim.model.scenario import (
    ScenarioError,
    apply_overrides,
    load_scenario,
    parameter_info,
    parse_assignment,
    read_toml,
)


def _error(path: Path, overrides: dict[str, Any] | None = None) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    return str(info.value)


def _one_line(message: str, *parts: str) -> str:
    """The message is one line, and that line names every part."""
    lines = message.splitlines()
    assert len(lines) == 1, message
    for part in parts:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"
    return lines[0]


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node = data
    *head, last = path.split(".")
    for p in head:
        node = node.setdefault(p, {})
    node[last] = value
    return data


# (what is wrong, key path in the data, bad value, key path named in the message, words in the message)
BAD_VALUES: list[tuple[str, str, Any, str, str]] = [
    ("wrong type", "scenario.horizon_h", "long", "scenario.horizon_h = 'long'", "number"),
    ("probability above 1", "sides.east.forces.north.spoiler_probability", 1.5,
     "sides.east.forces.north.spoiler_probability = 1.5", "less than or equal to 1"),
    ("kind probability above 1", "kinds.artillery.detection_probability", 1.01,
     "kinds.artillery.detection_probability = 1.01", "less than or equal to 1"),
    ("negative rate", "sides.west.forces.south.war_rate_per_h", -1.0,
     "sides.west.forces.south.war_rate_per_h = -1.0", "greater than or equal to 0"),
    ("negative delay", "sides.east.command.order_delay_mean_min", -5.0,
     "sides.east.command.order_delay_mean_min = -5.0", "greater than or equal to 0"),
    ("dangling neighbour", "sections.south.neighbours", ["north", "atlantis"],
     "sections.south.neighbours = 'atlantis'", "no section named 'atlantis'"),
    ("rear area of an unknown side", "sections.east_town.side", "north_korea",
     "sections.east_town.side = 'north_korea'", "no side named 'north_korea'"),
    ("force on an unknown section", "sides.west.forces.atlantis", {},
     "sides.west.forces.atlantis = 'atlantis'", "no section named 'atlantis'"),
    ("unknown capability kind", "sides.east.forces.north.capabilities", {"laser": 1.0},
     "sides.east.forces.north.capabilities = 'laser'", "unknown kind"),
    ("unknown retaliation policy", "sides.east.forces.north.retaliation", {"policy": "nuke"},
     "sides.east.forces.north.retaliation.policy = 'nuke'", "tit_for_tat"),
    ("unknown violation rule", "rules.violation", ["indiscipline", "mischief"],
     "rules.violation", "'mischief'"),
    ("not a boolean", "rules.spillover", "maybe", "rules.spillover = 'maybe'", "boolean"),
    ("fractional capacity", "mediator", {"capacity_per_day": 1.5},
     "mediator.capacity_per_day = 1.5", "integer"),
]


@pytest.mark.parametrize(("what", "key", "value", "named", "words"), BAD_VALUES,
                         ids=[b[0] for b in BAD_VALUES])
def test_bad_value_is_one_line_naming_file_key_and_value(
        tmp_path: Path, what: str, key: str, value: Any, named: str, words: str) -> None:
    path = write_case(tmp_path, _set(base_data(), key, value))
    _one_line(_error(path), str(path), named, words)


def test_the_base_case_is_valid(case_file: Path) -> None:
    case = load_scenario(case_file)
    assert case.side_names == ("east", "west")
    assert set(case.sections) == {"north", "south", "east_town", "west_town"}


def test_unknown_key_at_top_level(tmp_path: Path) -> None:
    data = {"bogus": 1, **base_data()}
    path = write_case(tmp_path, data)
    line = _one_line(_error(path), str(path), "bogus", "unknown key")
    assert "sections" in line  # says which keys are allowed


@pytest.mark.parametrize("key", ["sides.east.force.discplin", "sections.north.valeu",
                                 "sides.west.forces.south.retaliation.probabilty",
                                 "kinds.drone.stealth", "rules.spill_over"])
def test_unknown_nested_key(tmp_path: Path, key: str) -> None:
    path = write_case(tmp_path, _set(base_data(), key, 1))
    _one_line(_error(path), str(path), key, "unknown key")


def test_every_problem_gets_its_own_line(tmp_path: Path) -> None:
    data = _set(base_data(), "sides.east.forces.north.discipline", 2.0)
    _set(data, "sides.west.forces.south.war_rate_per_h", -3.0)
    path = write_case(tmp_path, data)
    lines = _error(path).splitlines()
    assert len(lines) == 2
    assert any("sides.east.forces.north.discipline = 2.0" in line for line in lines)
    assert any("sides.west.forces.south.war_rate_per_h = -3.0" in line for line in lines)
    assert all(line.startswith(str(path)) for line in lines)


def test_bad_toml_syntax(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[scenario]\nname = 'x'\nhorizon_h = = 3\n", encoding="utf-8")
    _one_line(_error(path), str(path), "not valid TOML", "line 3")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    _one_line(_error(path), str(path), "no such scenario file")
    with pytest.raises(ScenarioError, match="cannot read"):
        read_toml(path)


# -- inheritance of a side's force defaults --------------------------------------------------

def test_side_force_defaults_reach_forces_that_do_not_override_them(tmp_path: Path) -> None:
    data = _set(base_data(), "sides.east.force.discipline", 0.9)
    _set(data, "sides.east.forces.south.discipline", 0.1)
    case = load_scenario(write_case(tmp_path, data))
    assert case.sides["east"].forces["north"].discipline == 0.9  # inherited
    assert case.sides["east"].forces["south"].discipline == 0.1  # its own key wins
    assert case.sides["west"].forces["north"].discipline == 0.5  # the other side is untouched


def test_nested_force_defaults_merge_key_by_key(tmp_path: Path) -> None:
    data = _set(base_data(), "sides.east.force.retaliation", {"policy": "grudger", "delay_mean_min": 7.0})
    _set(data, "sides.east.forces.south.retaliation", {"delay_mean_min": 99.0})
    case = load_scenario(write_case(tmp_path, data))
    south = case.sides["east"].forces["south"].retaliation
    assert (south.policy, south.delay_mean_min) == ("grudger", 99.0)
    assert case.sides["east"].forces["north"].retaliation.delay_mean_min == 7.0


def test_error_in_an_inherited_value_is_reported_where_it_was_written(tmp_path: Path) -> None:
    path = write_case(tmp_path, _set(base_data(), "sides.west.force.discipline", 1.8))
    line = _one_line(_error(path), str(path), "sides.west.force.discipline = 1.8")
    assert "forces" not in line


def test_inherited_unknown_policy_is_reported_at_the_side_default(tmp_path: Path) -> None:
    path = write_case(tmp_path, _set(base_data(), "sides.west.force.retaliation", {"policy": "nuke"}))
    _one_line(_error(path), str(path), "sides.west.force.retaliation.policy = 'nuke'")


# -- overrides (--set) -----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("scenario.horizon_h=12", ("scenario.horizon_h", 12)),
    ("sides.east.force.discipline = 0.25", ("sides.east.force.discipline", 0.25)),
    ("rules.spillover=false", ("rules.spillover", False)),
    ("rules.violation=[\"spoiler\"]", ("rules.violation", ["spoiler"])),
    ("sides.east.force.retaliation.policy=grudger", ("sides.east.force.retaliation.policy", "grudger")),
])
def test_parse_assignment(text: str, expected: tuple[str, Any]) -> None:
    assert parse_assignment(text) == expected


@pytest.mark.parametrize("text", ["no_equals_sign", "=3", "  = 3"])
def test_parse_assignment_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_assignment(text)
    _one_line(str(info.value), repr(text), "key.path=value")


@pytest.mark.parametrize(("key", "value", "named", "words"), [
    ("sides.east.force.discplin", 1, "sides.east.force.discplin = 1", "unknown key 'discplin'"),
    ("bogus", 1, "bogus = 1", "unknown key 'bogus'"),
    ("sides.east.force.discipline", 2, "sides.east.force.discipline = 2", "less than or equal to 1"),
    ("sides.east.force.discipline", "high", "sides.east.force.discipline = 'high'", "number"),
    ("scenario.horizon_h.minutes", 3, "scenario.horizon_h.minutes = 3", "is a value, not a table"),
    ("sides..force", 0.1, "sides..force", "empty part"),
    ("sides.nob*.force.discipline", 0.1, "sides.nob*.force.discipline = 0.1", "matches nothing"),
])
def test_bad_override_names_origin_key_and_value(case_file: Path, key: str, value: Any, named: str,
                                                 words: str) -> None:
    _one_line(_error(case_file, {key: value}), str(case_file), named, words)


def test_wildcard_override_reaches_every_match(case_file: Path) -> None:
    case = load_scenario(case_file, {"sides.*.forces.*.discipline": 0.1,
                                     "kinds.*.detection_probability": 0.25})
    assert {f.discipline for s in case.sides.values() for f in s.forces.values()} == {0.1}
    assert {k.detection_probability for k in case.kinds.values()} == {0.25}


def test_wildcard_override_with_a_bad_value_names_every_concrete_key(case_file: Path) -> None:
    lines = _error(case_file, {"sides.*.force.discipline": 2}).splitlines()
    assert sorted(lines) == sorted(f"{case_file}: sides.{s}.force.discipline = 2: "
                                   "Input should be less than or equal to 1" for s in ("east", "west"))


def test_override_of_side_default_reaches_forces_from_a_file(case_file: Path) -> None:
    case = load_scenario(case_file, {"sides.*.force.discipline": 0.3})
    assert {f.discipline for s in case.sides.values() for f in s.forces.values()} == {0.3}


def test_with_overrides_of_side_default_reaches_forces_of_a_loaded_scenario(case_file: Path) -> None:
    # Regression: with_overrides used to re-validate the dumped model, in which every force had
    # already copied its side's defaults, so a side default set later never reached them.
    # A side default now reaches every force, also one that set its own value (issue 8).
    case = load_scenario(case_file, {"sides.east.forces.south.discipline": 0.9})
    changed = case.with_overrides({"sides.*.force.discipline": 0.3})
    east = changed.sides["east"].forces
    assert (east["north"].discipline, east["south"].discipline) == (0.3, 0.3)
    assert load_scenario(case, {"sides.west.force.discipline": 0.2}).sides["west"].forces[
        "north"].discipline == 0.2


def test_with_overrides_validates_and_names_the_origin(case_file: Path) -> None:
    case = load_scenario(case_file)
    with pytest.raises(ScenarioError) as info:
        case.with_overrides({"sides.east.force.discipline": -1}, origin="posterior draw 3")
    _one_line(str(info.value), "posterior draw 3", "sides.east.force.discipline = -1")
    assert case.sides["east"].force.discipline == 0.5  # the original is unchanged


def test_apply_overrides_does_not_mutate_its_input() -> None:
    raw = base_data()
    out = apply_overrides(raw, {"sides.*.force.discipline": 0.1})
    assert raw == base_data()
    assert out["sides"]["west"]["force"]["discipline"] == 0.1


# -- the single definition of each parameter ------------------------------------------------------

@pytest.mark.parametrize(("path", "bounds"), [
    ("sides.*.force.discipline", {"ge": 0, "le": 1}),
    ("sides.*.force.war_rate_per_h", {"ge": 0}),
    ("mediator.capacity_per_day", {"ge": 0}),
    ("scenario.horizon_h", {"gt": 0}),
])
def test_parameter_info_gives_the_validated_range(case_file: Path, path: str,
                                                  bounds: dict[str, float]) -> None:
    info = parameter_info(path)
    assert info["doc"]
    for k, v in bounds.items():
        assert info[k] == v


def test_registries_are_what_the_errors_list(tmp_path: Path) -> None:
    path = write_case(tmp_path, _set(base_data(), "rules.violation", ["mischief"]))
    assert all(name in _error(path) for name in VIOLATION_RULES)
    path = write_case(tmp_path, _set(base_data(), "sides.east.force.retaliation", {"policy": "x"}))
    assert all(name in _error(path) for name in RETALIATION_POLICIES)


def test_unknown_kind_in_a_side_default_is_reported_once_even_if_every_force_overrides_it(
        tmp_path: Path) -> None:
    data = _set(base_data(), "sides.east.force.capabilities", {"lasers": 1.0})
    _one_line(_error(write_case(tmp_path, data)), "sides.east.force.capabilities = 'lasers'")
    for sec in ("north", "south"):
        _set(data, f"sides.east.forces.{sec}.capabilities", {"small_arms": 1.0})
    _one_line(_error(write_case(tmp_path, data)), "sides.east.force.capabilities = 'lasers'")


# -- not text, not finite --------------------------------------------------------------------

NAN = "__not_finite__"
"""Written into test data where a nan or inf goes (TOML writers refuse them; files allow them)."""


def _write_with(tmp_path: Path, data: dict[str, Any], literal: str, name: str = "case.toml") -> Path:
    """Write ``data`` with the string NAN replaced by the TOML ``literal`` (nan, inf, -inf)."""
    path = write_case(tmp_path, data, name)
    path.write_text(path.read_text(encoding="utf-8").replace(f'"{NAN}"', literal), encoding="utf-8")
    return path


def test_binary_scenario_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "binary.toml"
    path.write_bytes(b"[scenario]\nname = 'x'\n\x89PNG\r\n\x1a\n\x00\xff\xfe")
    _one_line(_error(path), str(path), "not a text file", "0x89", "line 3", "UTF-8")


def test_latin1_scenario_file_is_one_line(tmp_path: Path) -> None:
    text = write_case(tmp_path, base_data()).read_text(encoding="utf-8")
    path = tmp_path / "latin1.toml"
    path.write_bytes(text.replace('"test-case"', '"Stepanakert – Xankəndi"').encode("utf-8")
                     .replace("ə".encode(), b"\xe6"))
    _one_line(_error(path), str(path), "not a text file", "0xe6")


# (key path in the data, TOML literal, words in the message)
NOT_FINITE: list[tuple[str, str, str]] = [
    ("sides.east.force.capabilities", "{ small_arms = 1.0, drone = nan }", "must be a finite number"),
    ("sides.west.forces.north.discipline", "inf", "must be a finite number ≥ 0 and ≤ 1"),
    ("scenario.horizon_h", "+inf", "must be a finite number > 0 and ≤ 8760"),
    ("kinds.drone.severity", "-inf", "must be a finite number ≥ 0 and ≤ 10"),
    ("peacekeepers", "{ sections = [\"north\"], detection = { drone = nan } }", "must be a finite number"),
    ("mediator", "{ effectiveness = -nan }", "must be a finite number ≥ 0 and ≤ 1"),
]


@pytest.mark.parametrize(("key", "literal", "words"), NOT_FINITE, ids=[k for k, _, _ in NOT_FINITE])
def test_nan_or_inf_anywhere_in_a_file_is_one_line(tmp_path: Path, key: str, literal: str,
                                                   words: str) -> None:
    path = _write_with(tmp_path, _set(base_data(), key, NAN), literal)
    line = _one_line(_error(path), str(path), words, "nan and inf are not allowed")
    assert line.split(": ")[1].startswith(key)  # the key path down to the bad value
    assert " = nan" in line or " = inf" in line or " = -inf" in line


@pytest.mark.parametrize(("key", "value", "named", "words"), [
    ("sides.*.force.discipline", math.nan, "sides.*.force.discipline = nan", "≥ 0 and ≤ 1"),
    ("sides.east.force.capabilities", {"drone": math.inf}, "sides.east.force.capabilities.drone = inf",
     "must be a finite number"),
    ("kinds.*.detection_probability", -math.inf, "kinds.*.detection_probability = -inf", "≤ 1"),
])
def test_nan_or_inf_in_an_override_is_one_line(case_file: Path, key: str, value: Any, named: str,
                                               words: str) -> None:
    _one_line(_error(case_file, {key: value}), str(case_file), named, words)
    with pytest.raises(ScenarioError) as info:
        load_scenario(case_file).with_overrides({key: value}, origin="--set")
    _one_line(str(info.value), "--set", named)


def test_nan_from_the_command_line_syntax_is_rejected(case_file: Path) -> None:
    key, value = parse_assignment("sides.*.force.capabilities={ drone = nan }")
    _one_line(_error(case_file, {key: value}), "sides.*.force.capabilities.drone = nan")
