"""Scenarios: the validated, immutable description of one ceasefire.

A scenario file is TOML data, never code. This module holds the one definition of every
parameter (type, range, default, unit in its description); validation, the CLI's ``--set``,
the experiment specs and the classroom page all read these definitions.

Times are minutes relative to the ceasefire's effective time (t = 0); rates are per hour.
Loading reports every problem as a :class:`ScenarioError` naming the file, the key path, the
value and what is allowed.
"""

from __future__ import annotations

import copy
import datetime as dt
import fnmatch
import math
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.model.policies import RETALIATION_POLICIES, VIOLATION_RULES

KIND_NAMES = ("small_arms", "artillery", "drone", "rockets", "raid")
"""Built-in incident kinds, lightest first (the ladder escalating policies climb)."""

BUNDLED = ("karabakh-2020-10-10", "karabakh-2020-10-10.calibrated", "classroom-two-villages",
           "classroom-peacekeepers", "donbas-2020-07-27", "donbas-2018-08-29", "donbas-2018-07-01",
           "israel-hezbollah-2024-11-27", "sudan-jeddah-2023-05-22", "yemen-2022-04-02")
"""Scenarios shipped in the package: the default case, the classroom pair, the records library."""
DEFAULT_SCENARIO = "karabakh-2020-10-10"


class ScenarioError(ValueError):
    """A scenario (or an override of one) is invalid; the message is one line per problem."""


def param(default: Any = ..., *, default_factory: Any = None, ge: float | None = None,
      le: float | None = None, gt: float | None = None, unit: str = "", doc: str = "") -> Any:
    """One parameter definition: default, allowed range and unit, shown in every message."""
    extra = {"unit": unit} if unit else None
    if default_factory is not None:
        return Field(default_factory=default_factory, ge=ge, le=le, gt=gt, description=doc,
                     json_schema_extra=extra)
    return Field(default, ge=ge, le=le, gt=gt, description=doc, json_schema_extra=extra)


class _Strict(BaseModel):
    # allow_inf_nan=False: a backstop behind the file and override checks (check_finite).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False,
                              validate_default=True, allow_inf_nan=False)


class Meta(_Strict):
    """The case being modelled and the simulated window."""

    name: str = param(doc="short identifier of the scenario")
    title: str = param("", doc="one-line human title")
    description: str = param("", doc="what the scenario represents and where it comes from")
    source: str = param("", doc="the record the scenario was built from")
    effective_local: str = param("", doc="local date and time when the ceasefire took effect (t = 0)")
    start_min: float = param(-720.0, le=0, unit="min",
                         doc="when the run starts, minutes relative to t = 0 (≤ 0)")
    horizon_h: float = param(72.0, gt=0, le=24 * 365, unit="h",
                         doc="when the run ends, hours after t = 0")
    report_interval_min: float = param(15.0, gt=0, le=1440, unit="min",
                                   doc="simulated minutes per model.step() and data row")
    events_file: str = param("", doc="reported events (CSV) beside the scenario file, if any")


class Rules(_Strict):
    """Switches for the rules of the model; a rule switched off is removed entirely."""

    violation: tuple[str, ...] = param(tuple(VIOLATION_RULES),
                                   doc="violation rules every force follows (names from the registry)")
    order_propagation: bool = param(True, doc="orders reach forces after a random delay; "
                                          "off: every force gets the order the moment it is issued")
    attribution_errors: bool = param(True, doc="the side that fired may blame the other (ambiguity)")
    retaliation: bool = param(True, doc="forces answer perceived hostile acts per their policy")
    spillover: bool = param(True, doc="severe incidents provoke answers in neighbouring sections "
                                  "and strikes on rear areas")
    mediation: bool = param(True, doc="the mediator intervenes (needs a [mediator] table)")
    commitment: bool = param(True, doc="rule 8: commands weigh the ceasefire and may abandon it; "
                                       "off: commands never decide (collapse is then undefined)")
    peacekeepers: bool = param(True, doc="rule 9: posts of the [peacekeepers] table detect, report, "
                                         "deter and block (needs a [peacekeepers] table)")

    @field_validator("violation")
    @classmethod
    def _known_rules(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        # A field validator, so the message names rules.violation rather than rules.
        for name in names:
            if name not in VIOLATION_RULES:
                raise ValueError(f"unknown violation rule {name!r}; allowed: "
                                 f"{', '.join(VIOLATION_RULES)}")
        return names


class Outcomes(_Strict):
    """How a run's outcomes are judged (see sim.model.outcomes)."""

    relapse_window_min: float = param(360.0, gt=0, unit="min",
                                      doc="trailing window over which relapse into fighting is measured")
    relapse_fraction: float = param(0.5, gt=0, unit="fraction of war-time intensity",
                                    doc="violations have relapsed when the trailing rate reaches this "
                                        "fraction of the war-time intensity (the forces' war-time "
                                        "rates, from the scenario's parameters)")
    erosion_level: float = param(0.5, ge=0, le=1, unit="fraction of the way from the initial "
                                                       "commitment down to the abandonment threshold",
                                 doc="a side is 'eroding' once its commitment has fallen this far "
                                     "towards abandonment (the page's status)")


class Kind(_Strict):
    """An incident kind: how severe it is, how visible, how ambiguous, how deadly."""

    severity: float = param(ge=0, le=10, unit="severity points (1 = small-arms fire)",
                        doc="severity of one incident of this kind")
    detection_probability: float = param(ge=0, le=1, unit="probability",
                                     doc="chance the other side detects an incident of this kind")
    ambiguity: float = param(ge=0, le=1, unit="probability",
                         doc="chance the side that fired publicly blames the other for it")
    casualties_mean: float = param(ge=0, unit="people per incident",
                               doc="expected casualties (Poisson) of one incident")
    reaches_rear: bool = param(doc="whether this kind can strike rear areas (towns)")
    explosive: bool = param(False, doc="whether an incident of this kind is counted as explosions by "
                                       "monitors (artillery, rockets, drones; not small arms)")


DEFAULT_KINDS: dict[str, dict[str, Any]] = {
    # Assumption (no source gives these numbers): ordered by weight of fire; heavier fire is
    # more visible and less deniable.
    "small_arms": dict(severity=1.0, detection_probability=0.5, ambiguity=0.6,
                       casualties_mean=0.02, reaches_rear=False),
    "artillery": dict(severity=2.5, detection_probability=0.85, ambiguity=0.5,
                      casualties_mean=0.15, reaches_rear=True, explosive=True),
    "drone": dict(severity=3.0, detection_probability=0.8, ambiguity=0.2,
                  casualties_mean=0.3, reaches_rear=True, explosive=True),
    "rockets": dict(severity=3.5, detection_probability=0.95, ambiguity=0.3,
                    casualties_mean=0.4, reaches_rear=True, explosive=True),
    "raid": dict(severity=4.0, detection_probability=0.95, ambiguity=0.1,
                 casualties_mean=0.6, reaches_rear=False),
}


class Spillover(_Strict):
    """Rule 6: how severe incidents spread to other sections."""

    min_severity: float = param(3.0, ge=0, unit="severity points",
                            doc="incidents at least this severe can spill over")
    neighbour_probability: float = param(0.2, ge=0, le=1, unit="probability",
                                     doc="chance, per neighbouring front section, that the struck "
                                         "side's force there answers too")
    rear_probability: float = param(0.15, ge=0, le=1, unit="probability",
                                doc="chance an answer to a severe incident strikes a rear area "
                                    "of the side that fired")
    rear_grievance: float = param(0.2, ge=0, le=1, unit="grievance (0-1)",
                              doc="grievance every force of a side gains when its rear is struck")


class Section(_Strict):
    """A stretch of the line of contact (front) or a rear area (a town, a district)."""

    label: str = param("", doc="name shown in tables and figures")
    kind: Literal["front", "rear"] = param(doc="front: contested line; rear: behind one side's line")
    side: str = param("", doc="for rear areas: the side they belong to")
    value: float = param(0.0, ge=0, le=1, unit="0-1",
                     doc="territorial value: how much there is to gain here by attacking")
    neighbours: tuple[str, ...] = param((), doc="adjacent sections (front or rear), by name")

    @model_validator(mode="after")
    def _rear_has_side(self) -> Section:
        if self.kind == "rear" and not self.side:
            raise ValueError("a rear section needs 'side' (the side it belongs to)")
        if self.kind == "front" and self.side:
            raise ValueError("a front section belongs to no side; remove 'side'")
        return self


class Retaliation(_Strict):
    """How a force answers a perceived hostile act (rule 5)."""

    policy: str = param("proportional", doc="retaliation policy (names from the registry)")
    probability: float = param(0.6, ge=0, le=1, unit="probability",
                           doc="willingness to answer one perceived hostile act")
    delay_mean_min: float = param(30.0, gt=0, unit="min",
                              doc="mean delay (exponential) between the act and the answer")
    forgiveness: float = param(0.5, ge=0, le=1, unit="probability",
                           doc="for 'restrained': chance an act is let go")

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, policy: str) -> str:
        # A field validator, so the message names ...retaliation.policy rather than ...retaliation.
        if policy not in RETALIATION_POLICIES:
            raise ValueError(f"unknown retaliation policy {policy!r}; allowed: "
                             f"{', '.join(RETALIATION_POLICIES)}")
        return policy


class ForceParams(_Strict):
    """One side's troops holding one section."""

    discipline: float = param(0.8, ge=0, le=1, unit="0-1",
                          doc="how strictly the force keeps a ceasefire order")
    war_rate_per_h: float = param(3.0, ge=0, unit="incidents/h",
                              doc="incidents the force initiates per hour under its "
                                  "pre-ceasefire posture")
    ceasefire_rate_per_h: float = param(0.5, ge=0, unit="incidents/h",
                                    doc="incidents per hour a force with no discipline and no "
                                        "grievance initiates under a ceasefire order")
    grievance_weight: float = param(3.0, ge=0, unit="multiplier",
                                doc="at full grievance the ceasefire rate is (1 + this) times higher")
    grievance_gain: float = param(0.1, ge=0, le=1, unit="grievance per severity point",
                              doc="grievance gained per severity point of a perceived hostile act")
    grievance_half_life_min: float = param(240.0, ge=0.1, unit="min", doc="half-life of grievance")
    offensive_intent: float = param(0.0, ge=0, le=1, unit="0-1",
                                doc="how much the force wants to take ground")
    last_minute_gain: float = param(2.0, ge=0, unit="multiplier",
                                doc="extra war-time rate, times intent x section value, "
                                    "reached at t = 0")
    gain_ramp_min: float = param(180.0, ge=0.1, unit="min",
                             doc="e-folding time of the rise of offensive pressure towards t = 0")
    spoiler_probability: float = param(0.0, ge=0, le=1, unit="probability",
                                   doc="chance the force keeps its offensive intent after the order")
    spoiler_persistence_min: float = param(360.0, ge=0.1, unit="min",
                                       doc="e-folding time of a spoiler's offensive after t = 0")
    rear_strike_share: float = param(0.1, ge=0, le=1, unit="probability",
                                 doc="chance an incident of a kind that reaches the rear is aimed "
                                     "at a neighbouring rear area of the other side")
    capabilities: dict[str, float] = param(default_factory=lambda: {"small_arms": 1.0},
                                       unit="relative weights",
                                       doc="how often each incident kind is used")
    retaliation: Retaliation = param(default_factory=Retaliation, doc="retaliation policy")

    @model_validator(mode="after")
    def _weights(self) -> ForceParams:
        for kind, w in self.capabilities.items():
            if w < 0:
                raise ValueError(f"capability weight for {kind!r} must be ≥ 0, got {w}")
        if not any(w > 0 for w in self.capabilities.values()):
            raise ValueError("capabilities need at least one positive weight")
        return self


class CommandParams(_Strict):
    """A side's headquarters: the ceasefire order, its commitment to the truce (rule 8)."""

    order_issue_min: float = param(0.0, unit="min",
                               doc="when the command orders its forces to cease fire (t relative to "
                                   "the ceasefire); the order takes effect at t = 0 at the earliest")
    order_delay_mean_min: float = param(20.0, ge=0, unit="min",
                                    doc="mean delay (exponential) for an order to reach a force (the "
                                        "order to cease fire, to resume operations, to recommit)")
    commitment_initial: float = param(1.0, ge=0, le=1, unit="0-1",
                                      doc="commitment to the ceasefire at t = 0 (lower for a truce "
                                          "imposed from outside)")
    abandon_threshold: float = param(0.3, ge=0, le=1, unit="0-1",
                                     doc="below this commitment the command abandons the ceasefire "
                                         "and orders offensive operations")
    recommit_threshold: float = param(0.6, ge=0, le=1, unit="0-1",
                                      doc="after abandoning, the command recommits (if the broker can "
                                          "bring it back) once its commitment is back above this")
    violation_cost: float = param(0.004, ge=0, le=1, unit="commitment per severity point",
                                  doc="commitment lost per severity point of a hostile act the command "
                                      "blames on the other side")
    rear_multiplier: float = param(4.0, ge=1, unit="multiplier",
                                   doc="a strike on the command's rear (its towns) costs this many "
                                       "times a strike on the front")
    casualty_cost: float = param(0.02, ge=0, le=1, unit="commitment per casualty",
                                 doc="commitment lost per casualty of an act blamed on the other side")
    war_aims_per_day: float = param(0.0, ge=0, unit="commitment per day",
                                    doc="standing pull away from the truce of a side that expects to "
                                        "gain by fighting on (its unmet war aims)")
    recovery_per_day: float = param(0.5, ge=0, unit="per day",
                                    doc="rate at which commitment returns towards its initial value "
                                        "when nothing happens")

    @model_validator(mode="after")
    def _thresholds(self) -> CommandParams:
        if self.recommit_threshold < self.abandon_threshold:
            raise ValueError(f"recommit_threshold ({self.recommit_threshold}) must be at least "
                             f"abandon_threshold ({self.abandon_threshold})")
        return self


class Side(_Strict):
    """A party to the ceasefire: its command, its forces' defaults and where they stand."""

    label: str = param("", doc="name shown in tables and figures")
    command: CommandParams = param(default_factory=CommandParams, doc="the side's command")
    force: ForceParams = param(default_factory=ForceParams,
                           doc="defaults for every force of this side")
    forces: dict[str, ForceParams] = param(
        default_factory=dict,
        doc="the sections this side holds, each with the keys where its force differs")


class Mediator(_Strict):
    """The broker of the agreement (rule 7)."""

    label: str = param("", doc="name shown in tables and figures")
    report_delay_mean_min: float = param(120.0, ge=0, unit="min",
                                     doc="mean delay (exponential) before a violation reaches it")
    capacity_per_day: int = param(3, ge=0, unit="interventions per 24 h",
                              doc="interventions it can make per day")
    effectiveness: float = param(0.5, ge=0, le=1, unit="0-1",
                             doc="share of violation and retaliation it suppresses at full "
                                 "credibility")
    pressure_duration_min: float = param(360.0, gt=0, unit="min",
                                     doc="how long one intervention's pressure lasts")
    credibility: float = param(1.0, ge=0, le=1, unit="0-1", doc="initial credibility")
    credibility_loss: float = param(0.05, ge=0, le=1, unit="fraction per violation",
                                doc="credibility lost per violation reported during its pressure")
    even_handedness: float = param(0.5, ge=0, le=1, unit="0-1",
                               doc="pressure on the side it does not blame, relative to the side "
                                   "it blames")
    commitment_support: float = param(0.1, ge=0, le=1, unit="commitment per intervention",
                                      doc="commitment an intervention at full pressure restores to "
                                          "a side (rule 8)")
    recommitment: bool = param(True, doc="the broker can bring a side that abandoned the ceasefire "
                                         "back to it (rule 8)")
    monitors: bool = param(False, doc="the broker has monitors along the whole line of contact: it "
                                      "hears of incidents they detect (with a post's default "
                                      "detection by kind) and blames with monitor_accuracy")
    monitor_accuracy: float = param(0.95, ge=0, le=1, unit="probability",
                                doc="with monitors: chance an incident is attributed correctly")
    monitor_report_delay_mean_min: float = param(30.0, ge=0, unit="min",
                                             doc="with monitors: mean reporting delay")


DEFAULT_POST_DETECTION: dict[str, float] = {
    # Assumption: a post sees and hears most heavy fire on its stretch of the line, and less
    # of the small-arms fire (the OSCE SMM counted bursts it heard, not all it could not).
    "small_arms": 0.6, "artillery": 0.9, "drone": 0.5, "rockets": 0.9, "raid": 0.7,
}


class Peacekeepers(_Strict):
    """Rule 9: monitors or an interposition force with posts on some sections.

    Observer-only missions (the OSCE's Special Monitoring Mission in Donbas) have
    ``deterrence = 0``; an armed interposition force deters initiation and blocks answers too.
    """

    label: str = param("", doc="name shown in tables and figures")
    sections: tuple[str, ...] = param(doc="the sections where posts stand")
    deterrence: float = param(0.0, ge=0, le=1, unit="probability",
                              doc="share of would-be initiations a post prevents (0: observers only)")
    answer_blocking: float = param(0.0, ge=0, le=1, unit="probability",
                                   doc="share of answers (retaliation) a post blocks")
    detection: dict[str, float] = param(default_factory=lambda: dict(DEFAULT_POST_DETECTION),
                                        unit="probability per kind",
                                        doc="chance a post detects an incident of each kind on its "
                                            "section (kinds not listed: 0.5)")
    attribution_accuracy: float = param(0.9, ge=0, le=1, unit="probability",
                                        doc="chance an incident a post detects is attributed to the "
                                            "side that fired (else it is left unattributed)")
    report_delay_mean_min: float = param(60.0, ge=0, unit="min",
                                         doc="mean delay (exponential) before a post's report "
                                             "reaches the broker")
    guarantee: float = param(0.0, ge=0, le=1, unit="0-1",
                             doc="how far the force guarantees the truce: the pull of each side's "
                                 "war aims on its commitment is cut by this share (rule 8)")
    recorded_per_incident_mean: float = param(3.0, ge=1, unit="recorded violations per incident",
                                              doc="how many 'violations' a monitor records for one "
                                                  "detected incident (each burst and explosion counts)")

    @model_validator(mode="after")
    def _probabilities(self) -> Peacekeepers:
        for kind, p in self.detection.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"detection probability for {kind!r} must be in [0, 1], got {p}")
        if not self.sections:
            raise ValueError("peacekeepers need at least one section")
        return self


class Places(_Strict):
    """How events of outside datasets (UCDP GED, ACLED) map onto the scenario, for
    ``ceasefire import-events``: places to sections, actors to sides.

    An event's section is found by its place name (``locations``), else by its coordinates in
    the polygons of ``geojson``, else by its admin region (``regions``). Names match without
    regard to case; ``actors`` keys may use ``*`` wildcards (the first match in file order wins).
    """

    regions: dict[str, str] = param(default_factory=dict,
                                    doc="admin regions (ACLED admin1, UCDP adm_1) -> section")
    locations: dict[str, str] = param(default_factory=dict,
                                      doc="place names (ACLED location, UCDP where_coordinates) -> section")
    geojson: str = param("", doc="GeoJSON file beside the scenario: (Multi)Polygon features whose "
                                 "property `section_property` names a section")
    section_property: str = param("section", doc="the GeoJSON feature property naming the section")
    actors: dict[str, str] = param(default_factory=dict,
                                   doc="actor names or patterns (ACLED actor1/actor2, UCDP side_a/side_b) "
                                       "-> side")


class Scenario(_Strict):
    """A validated, immutable scenario. Build it with :func:`load_scenario`."""

    scenario: Meta
    rules: Rules = param(default_factory=Rules)
    outcomes: Outcomes = param(default_factory=Outcomes)
    kinds: dict[str, Kind] = param(default_factory=lambda: {k: Kind(**v) for k, v in DEFAULT_KINDS.items()})
    spillover: Spillover = param(default_factory=Spillover)
    sections: dict[str, Section]
    sides: dict[str, Side]
    mediator: Mediator | None = None
    peacekeepers: Peacekeepers | None = None
    places: Places | None = None
    _raw: dict[str, Any] | None = PrivateAttr(default=None)
    """The data as written (before each force inherited its side's defaults), so overrides of a
    side's ``force`` table still reach the forces that do not set the key themselves."""

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        problems: list[tuple[str, Any, str]] = []
        if len(self.sides) != 2:
            problems.append(("sides", list(self.sides),
                             "exactly two sides are supported (a bilateral ceasefire)"))
        for name, sec in self.sections.items():
            for n in sec.neighbours:
                if n not in self.sections:
                    problems.append((f"sections.{name}.neighbours", n,
                                     f"no section named {n!r}; known: {', '.join(self.sections)}"))
                elif n == name:
                    problems.append((f"sections.{name}.neighbours", n, "a section is not its own neighbour"))
            if sec.kind == "rear" and sec.side not in self.sides:
                problems.append((f"sections.{name}.side", sec.side,
                                 f"no side named {sec.side!r}; known: {', '.join(self.sides)}"))
        if self.peacekeepers is not None:
            for name in self.peacekeepers.sections:
                if name not in self.sections:
                    problems.append(("peacekeepers.sections", name,
                                     f"no section named {name!r}; known: {', '.join(self.sections)}"))
            for kind in self.peacekeepers.detection:
                if kind not in self.kinds:
                    problems.append(("peacekeepers.detection", kind,
                                     f"unknown kind; known: {', '.join(self.kinds)}"))
        if self.places is not None:
            for table in ("regions", "locations"):
                for place, name in getattr(self.places, table).items():
                    if name not in self.sections:
                        problems.append((f"places.{table}.{place}", name,
                                         f"no section named {name!r}; known: {', '.join(self.sections)}"))
            for actor, name in self.places.actors.items():
                if name not in self.sides:
                    problems.append((f"places.actors.{actor}", name,
                                     f"no side named {name!r}; known: {', '.join(self.sides)}"))
        for sname, side in self.sides.items():
            if not side.forces:
                problems.append((f"sides.{sname}.forces", {}, "a side needs at least one force"))
            # The side's defaults too, even where every force sets its own capabilities.
            for kind in side.force.capabilities:
                if kind not in self.kinds:
                    problems.append((f"sides.{sname}.force.capabilities", kind,
                                     f"unknown kind; known: {', '.join(self.kinds)}"))
            for sec_name, force in side.forces.items():
                where = f"sides.{sname}.forces.{sec_name}"
                if sec_name not in self.sections:
                    problems.append((where, sec_name,
                                     f"no section named {sec_name!r}; known: {', '.join(self.sections)}"))
                for kind in force.capabilities:
                    if kind not in self.kinds and kind not in side.force.capabilities:
                        problems.append((f"{where}.capabilities", kind,
                                         f"unknown kind; known: {', '.join(self.kinds)}"))
        if problems:
            raise _CrossReferenceError(problems)
        return self

    # -- convenient views -------------------------------------------------------------------
    @property
    def side_names(self) -> tuple[str, str]:
        """The two sides, in file order."""
        a, b = self.sides
        return a, b

    def with_overrides(self, overrides: Mapping[str, Any], *, origin: str = "--set") -> Scenario:
        """A new scenario with ``key.path = value`` overrides applied and validated again.

        As :func:`apply_overrides`: ``*`` matches every name, and an override of a side's force
        default (``sides.*.force.discipline``) reaches every force of that side, also those that
        set their own value. Raises ScenarioError (nan or inf included).
        """
        raw = self._raw if self._raw is not None else _plain(self.model_dump(mode="python"))
        return _validate(apply_overrides(raw, overrides, origin=origin), origin)


class _CrossReferenceError(ValueError):
    """Several located problems raised from a cross-reference validator."""

    def __init__(self, problems: list[tuple[str, Any, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, _, m in problems))
        self.problems = problems


# -- loading ---------------------------------------------------------------------------------

def bundled_dir() -> Path:
    """The folder of bundled scenarios: installed as ``sim.scenarios``, or the checkout's."""
    try:
        # An installed namespace package gives a MultiplexedPath; a file in it is a real path.
        marker = resources.files("sim.scenarios").joinpath(f"{DEFAULT_SCENARIO}.toml")
        return Path(str(marker)).parent
    except ModuleNotFoundError:  # `sim` imported straight from a source checkout
        return Path(__file__).resolve().parents[2] / "scenarios"


def bundled_path(name: str) -> Path:
    """The path of a bundled scenario (``karabakh-2020-10-10`` or ``classroom-two-villages``)."""
    return bundled_dir() / f"{name}.toml"


def resolve_path(scenario: str | Path | None) -> Path:
    """A scenario argument as a file: an existing path, or the name of a bundled scenario."""
    if scenario is None:
        scenario = DEFAULT_SCENARIO
    p = Path(scenario)
    if p.is_file():
        return p
    name = p.name.removesuffix(".toml")
    if str(scenario).removesuffix(".toml") in BUNDLED or (name in BUNDLED and not p.parent.parts):
        return bundled_path(name)
    raise ScenarioError(f"{scenario}: no such scenario file "
                        f"(bundled scenarios: {', '.join(BUNDLED)})")


def read_toml(path: Path, *, allowed: Callable[[str], str] | None = None) -> dict[str, Any]:
    """Read a TOML file (a scenario, an experiment spec, a calibration spec).

    Raises a one-line ScenarioError naming the file for I/O errors, bytes that are not UTF-8
    text, TOML syntax errors, and any nan or infinity (TOML allows them; no setting of ours
    does): the key path, the value and what is allowed, in ``allowed(key path)``'s words
    (default: "must be a finite number").
    """
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise ScenarioError(f"{path}: not a text file: byte 0x{exc.object[exc.start]:02x} on line {line} "
                            "is not UTF-8; a TOML file must be UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    check_finite(data, str(path), allowed=allowed)
    return data


def check_finite(data: Any, origin: str, prefix: str = "", *,
                 allowed: Callable[[str], str] | None = None) -> None:
    """Raise a one-line ScenarioError at the first nan or infinity anywhere in ``data``.

    ``data`` is TOML-like (tables, arrays, values); the message names ``origin``, the key path
    (under ``prefix``), the value and what is allowed (``allowed(key path)``, default "must be a
    finite number").
    """
    for where, value in _non_finite(data, prefix):
        words = allowed(where) if allowed else "must be a finite number"
        raise ScenarioError(f"{origin}: {where} = {value!r}: {words} (nan and inf are not allowed)")


def _non_finite(node: Any, where: str) -> Iterator[tuple[str, float]]:
    if isinstance(node, float):
        if not math.isfinite(node):
            yield where or "(value)", node
    elif isinstance(node, Mapping):
        for k, v in node.items():
            yield from _non_finite(v, f"{where}.{_key_text(k)}" if where else _key_text(k))
    elif isinstance(node, list | tuple):
        for i, v in enumerate(node):
            yield from _non_finite(v, f"{where}[{i}]")


def _key_text(key: Any) -> str:
    """A table key as written in a key path: quoted when it holds a dot or a wildcard."""
    key = str(key)
    return f'"{key}"' if any(ch in key for ch in ".*?[] ") else key


def finite_number_words(path: str) -> str:
    """What a scenario parameter allows, for nan/inf messages: "must be a finite number ≥ 0 and ≤ 1"."""
    try:
        info = parameter_info(path)
    except (KeyError, AttributeError, TypeError):
        info = {}
    bounds = [f"{sign} {info[k]:g}" for k, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
              if isinstance(info.get(k), int | float)]
    return "must be a finite number" + (f" {' and '.join(bounds)}" if bounds else "")


def load_scenario(scenario: str | Path | Scenario | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Load, override and validate a scenario.

    ``scenario`` is a path, a bundled name, an already loaded Scenario, or None for the
    default (Karabakh, 10 October 2020). ``overrides`` maps key paths (``sides.*.force.discipline``;
    ``*`` matches every name at that level) to values; an override of a side's force default
    reaches every force of the side, also those that set their own value (see
    :func:`apply_overrides`). Raises ScenarioError, one line per problem (nan and inf included).
    """
    if isinstance(scenario, Scenario):
        return scenario.with_overrides(overrides) if overrides else scenario
    path = resolve_path(scenario)
    raw = read_toml(path, allowed=finite_number_words)
    if overrides:
        # With the built-in kinds filled in, so `kinds.*.x` also matches kinds the file leaves out.
        raw = apply_overrides(_with_kind_defaults(raw), overrides, origin=str(path))
    loaded = _validate(raw, str(path))
    return loaded


def _validate(raw: dict[str, Any], origin: str) -> Scenario:
    raw = _with_kind_defaults(raw)
    try:
        scenario = Scenario.model_validate(_with_force_defaults(raw))
    except ValidationError as exc:
        raise ScenarioError(_format_errors(exc, raw, origin)) from None
    scenario._raw = _copy_tree(raw)
    return scenario


def _with_kind_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Built-in kinds keep their defaults for any key the file leaves out."""
    kinds = raw.get("kinds", {})
    if not isinstance(kinds, dict):
        return raw
    merged = {k: dict(v) for k, v in DEFAULT_KINDS.items()}
    for name, table in kinds.items():
        merged[name] = {**merged.get(name, {}), **table} if isinstance(table, dict) else table
    return {**raw, "kinds": merged}


def _with_force_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Each force entry inherits every key it does not set from its side's ``force`` table."""
    sides = raw.get("sides")
    if not isinstance(sides, dict):
        return raw
    out = dict(raw)
    out["sides"] = {}
    for sname, side in sides.items():
        if not isinstance(side, dict):
            out["sides"][sname] = side
            continue
        base = side.get("force", {})
        forces = side.get("forces", {})
        if isinstance(base, dict) and isinstance(forces, dict):
            side = {**side, "forces": {
                sec: _deep_merge(base, f) if isinstance(f, dict) else f for sec, f in forces.items()}}
        out["sides"][sname] = side
    return out


REPLACED_WHOLE = ("capabilities",)
"""Force tables an entry replaces whole rather than key by key (its own kinds and weights)."""


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = _copy_tree(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) and k not in REPLACED_WHOLE:
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = _copy_tree(v)
    return out


def _lookup(raw: Any, loc: Iterable[Any]) -> tuple[bool, Any]:
    node = raw
    for part in loc:
        in_table = isinstance(node, Mapping) and part in node
        in_array = isinstance(node, list | tuple) and isinstance(part, int) and part < len(node)
        if in_table or in_array:
            node = node[part]
        else:
            return False, None
    return True, node


def _format_errors(exc: ValidationError, raw: dict[str, Any], origin: str) -> str:
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        ctx_err = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_err, _CrossReferenceError):
            lines += [f"{origin}: {p} = {v!r}: {m}" for p, v, m in ctx_err.problems]
            continue
        # A force entry inherits from its side's defaults; name where the bad value was written.
        if len(loc) >= 4 and loc[0] == "sides" and loc[2] == "forces":
            found, _ = _lookup(raw, loc)
            if not found:
                loc = [loc[0], loc[1], "force", *loc[4:]]
        path = ".".join(str(p) for p in loc) or "(top level)"
        found, value = _lookup(raw, loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parent = _schema_keys(loc[:-1])
            allowed = f"; allowed keys: {', '.join(parent)}" if parent else ""
            lines.append(f"{origin}: {path}: unknown key{allowed}")
        elif err["type"] == "missing":
            lines.append(f"{origin}: {path}: required key is missing")
        else:
            shown = f" = {value!r}" if found else ""
            lines.append(f"{origin}: {path}{shown}: {msg}")
    return "\n".join(dict.fromkeys(lines))


def _schema_keys(loc: list[Any]) -> list[str]:
    """The keys allowed at a location, for 'unknown key' messages."""
    model: Any = Scenario
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(str(part))
        if field is None:  # a name inside a dict[str, Model]
            continue
        model = _model_of(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _model_of(annotation: Any) -> Any:
    args = getattr(annotation, "__args__", ())
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for a in reversed(args):
        m = _model_of(a)
        if m is not None:
            return m
    return None


# -- overrides -------------------------------------------------------------------------------

def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse ``key.path=value`` (value in TOML syntax; bare words are strings)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(f"--set {text!r}: expected key.path=value")
    value = value.strip()
    try:
        return key, tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any], *,
                    origin: str = "--set") -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``key.path`` set; ``*`` matches every existing name.

    A path must name a parameter the schema knows, so a typo is an error rather than a silently
    ignored key; a nan or infinite value is an error too.

    An override of a side's force default, ``sides.<side or *>.force.<key path>``, reaches every
    force of that side: the force entries that set that key path themselves
    (``[sides.<side>.forces.<section>]``) lose their own value and inherit the new one. To set
    one force, override
    ``sides.<side>.forces.<section>.<key path>``; given in the same call, such per-force overrides
    win over side-level ones whatever their order. This is the one override mechanism behind
    ``--set``, experiment specs, calibration priors and the classroom page's controls.
    """
    out = _copy_tree(raw)
    # Side-level force defaults first, so a per-force override given with them wins.
    ordered = sorted(overrides.items(), key=lambda item: not _is_side_force_default(item[0]))
    for path, value in ordered:
        parts = path.split(".")
        if not all(parts):
            raise ScenarioError(f"{origin}: {path}: empty part in key path")
        check_finite(value, origin, path, allowed=lambda _, p=path: finite_number_words(p))
        _check_known(parts, path, value, origin)
        targets = _expand(out, parts)
        if not targets:
            raise ScenarioError(f"{origin}: {path} = {value!r}: the pattern matches nothing")
        for concrete in targets:
            node = out
            for p in concrete[:-1]:
                nxt = node.setdefault(p, {})
                if not isinstance(nxt, dict):
                    raise ScenarioError(f"{origin}: {path}: {p} is a value, not a table")
                node = nxt
            node[concrete[-1]] = _copy_tree(value)
            if _is_side_force_default(".".join(concrete)):
                _reach_every_force(out["sides"][concrete[1]], concrete[3:], value)
    return out


def _is_side_force_default(path: str) -> bool:
    """Whether ``path`` is a key path inside a side's force defaults (``sides.<side>.force...``)."""
    parts = path.split(".")
    return len(parts) >= 3 and parts[0] == "sides" and parts[2] == "force"


def _reach_every_force(side: Any, keys: list[str], value: Any) -> None:
    """Make every force entry of ``side`` take key path ``keys`` from the side's default.

    Follows the inheritance of :func:`_with_force_defaults`: an entry that does not set a key
    inherits it (nothing to do); an entry that sets it loses its own value and so inherits the
    new default (a bad value is then reported once, where the override put it); a table merged
    key by key is followed into; a table an entry replaces whole (``capabilities``) gets
    ``value`` set inside it. An empty ``keys`` (the whole default table replaced) leaves the
    entries nothing of their own.
    """
    forces = side.get("forces") if isinstance(side, dict) else None
    if not isinstance(forces, dict):
        return
    for entry in forces.values():
        if not isinstance(entry, dict):
            continue  # validation reports it
        if not keys:
            entry.clear()
            continue
        node = entry
        for i, key in enumerate(keys):
            if not isinstance(node, dict) or key not in node:
                break  # inherited from the side's default from here on
            if i == len(keys) - 1:
                del node[key]
            elif key in REPLACED_WHOLE:
                table = node[key]
                for k in keys[i + 1:-1]:
                    table = table.setdefault(k, {}) if isinstance(table, dict) else None
                if isinstance(table, dict):
                    table[keys[-1]] = _copy_tree(value)
                break
            else:
                node = node[key]


def _expand(raw: dict[str, Any], parts: list[str]) -> list[list[str]]:
    paths: list[list[str]] = [[]]
    for i, part in enumerate(parts):
        nxt = []
        for prefix in paths:
            ok, node = _lookup(raw, prefix)
            if any(ch in part for ch in "*?[") and i < len(parts) - 1:
                names = list(node) if ok and isinstance(node, dict) else []
                nxt += [[*prefix, n] for n in names if fnmatch.fnmatchcase(n, part)]
            else:
                nxt.append([*prefix, part])
        paths = nxt
    return paths


def _check_known(parts: list[str], path: str, value: Any, origin: str) -> None:
    """Reject key paths the schema does not define (names of sections/sides/forces are free)."""
    model: Any = Scenario
    i = 0
    while i < len(parts):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            if isinstance(model, dict):  # free-form mapping such as capabilities
                return
            raise ScenarioError(f"{origin}: {path} = {value!r}: "
                                f"{'.'.join(parts[:i])} is a value, not a table")
        field = model.model_fields.get(parts[i])
        if field is None:
            raise ScenarioError(f"{origin}: {path} = {value!r}: unknown key {parts[i]!r}; "
                                f"allowed: {', '.join(model.model_fields)}")
        ann = field.annotation
        origin_t = getattr(ann, "__origin__", None)
        if origin_t is dict:
            i += 1  # skip the free name (section, side, kind, ...)
            inner = ann.__args__[1]
            model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else {}
            if model == {} and i < len(parts):
                return
        else:
            model = _model_of(ann) or ann
        i += 1


_IMMUTABLE = (str, int, float, bool, type(None), dt.date, dt.time)


def _copy_tree(obj: Any) -> Any:
    """A copy of plain scenario data (tables, arrays, scalars), as ``copy.deepcopy`` makes it.

    Runs copy a scenario's data for every set of overrides (a calibration does so for each
    simulation); walking only dicts and lists costs a fraction of ``deepcopy``'s memo and
    dispatch. Anything else is handed to ``deepcopy``.
    """
    if isinstance(obj, dict):
        return {k: _copy_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_copy_tree(v) for v in obj]
    if isinstance(obj, _IMMUTABLE):
        return obj
    return copy.deepcopy(obj)


def _plain(obj: Any) -> Any:
    """model_dump output with tuples turned into lists, as TOML would give them."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def parameter_info(path: str) -> dict[str, Any]:
    """Default, range, unit and description of one parameter, from its single definition.

    ``path`` uses ``*`` for free names, e.g. ``sides.*.force.discipline``.
    """
    parts = path.split(".")
    model: Any = Scenario
    field = None
    i = 0
    while i < len(parts):
        field = model.model_fields.get(parts[i]) if isinstance(model, type) else None
        if field is None:
            raise KeyError(path)
        ann = field.annotation
        if getattr(ann, "__origin__", None) is dict and i + 1 < len(parts):
            i += 1
            model = ann.__args__[1]
        else:
            model = _model_of(ann)
        i += 1
    assert field is not None
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    info: dict[str, Any] = {"default": default, "doc": field.description or "",
                            "unit": (field.json_schema_extra or {}).get("unit", "")}
    for m in field.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if getattr(m, attr, None) is not None:
                info[attr] = getattr(m, attr)
    return info
