"""The workflow's configuration defaults, read from its one home: the JSON schema
(workflow/schemas/config.schema.yaml). Library code (tests, benchmarks, notebooks) that runs
a stage without Snakemake takes its defaults from here, so no default is written twice."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


@functools.cache
def _schema() -> dict:
    import yaml

    if not SCHEMA.is_file():
        raise FileNotFoundError(
            f"config schema {SCHEMA} not found: install depthrefine from its checkout (pip install -e .)"
        )
    return yaml.safe_load(SCHEMA.read_text())


@functools.cache
def _defaults() -> dict:
    return _fill(_schema())


def _fill(schema: dict):
    """The value the schema's defaults give an empty instance (objects filled recursively)."""
    if schema.get("type") == "object" and "properties" in schema:
        base = copy.deepcopy(schema.get("default", {}))
        for key, sub in schema["properties"].items():
            value = _fill(sub)
            if value is not None or "default" in sub:
                base.setdefault(key, value)
        return base
    return copy.deepcopy(schema.get("default"))


def defaults() -> dict:
    """The whole default config, as Snakemake's validation fills it."""
    return copy.deepcopy(_defaults())


def config_section(name: str, overrides: dict | None = None) -> dict:
    """One section's defaults with ``overrides`` on top; an unknown key is an error, as in the workflow."""
    base = defaults()[name]
    unknown = sorted(set(overrides or {}) - set(base))
    if unknown:
        raise ValueError(f"{name}: unknown keys {unknown}; known: {sorted(base)}")
    return {**base, **(overrides or {})}


def checked_fields(cls, d: dict, section: str) -> dict:
    """``d`` as keyword arguments of dataclass ``cls``: missing and unknown keys are errors, so
    a library user gets the same error for a typo as a workflow user."""
    from dataclasses import fields

    names = {f.name for f in fields(cls)}
    unknown, missing = sorted(set(d) - names), sorted(names - set(d))
    if unknown:
        raise ValueError(f"{section}: unknown keys {unknown}; known: {sorted(names)}")
    if missing:
        raise ValueError(f"{section}: missing keys {missing} (the config schema gives their defaults)")
    return dict(d)


def source_settings(values: dict | None = None) -> dict:
    """One mocap source's settings: the schema's ``definitions/source`` defaults under ``values``."""
    base = _fill(_schema()["definitions"]["source"])
    unknown = sorted(set(values or {}) - set(base))
    if unknown:
        raise ValueError(f"sources: unknown keys {unknown}; known: {sorted(base)}")
    return {**base, **(values or {})}


def enabled_sources(config: dict) -> dict[str, dict]:
    """Name → filled settings of every enabled source, in the config's order; each gets
    ``trial_prefix`` resolved ('<name>/' unless given)."""
    out = {}
    for name, values in config["sources"].items():
        settings = source_settings(values)
        if settings["enabled"]:
            if settings["trial_prefix"] is None:
                settings["trial_prefix"] = f"{name}/"
            out[name] = settings
    if not out:
        raise ValueError("config sources: every source is disabled (enabled: false); enable at least one")
    return out


def batch_kinematics(source: dict, kinematics: dict) -> dict:
    """What a data batch's kinematics need: the source's unit, first-frame rule, skeleton map
    and AMC rate, and the workflow's ``kinematics`` section (min_frames)."""
    return {k: source[k] for k in ("unit_m", "drop_first_frame", "skeleton_map", "amc_fps")} | kinematics


def subject_for(name: str, subjects: dict | None) -> dict:
    """The first entry of config ``subjects`` whose key (a recording name or glob) matches the
    recording: {height_m, mass_kg}, either missing when not given."""
    from fnmatch import fnmatchcase

    for pattern, values in (subjects or {}).items():
        if fnmatchcase(name, pattern):
            return dict(values or {})
    return {}


def camera_up_for(name: str, cameras: dict | None) -> list[float] | None:
    """The world's up in the recording's camera frame from the first entry of config ``cameras``
    matching it ({pitch_deg, roll_deg}), else None (capture/upright.py)."""
    from depthrefine.capture.upright import camera_up

    attitude = subject_for(name, cameras)
    if not attitude:
        return None
    return camera_up(attitude["pitch_deg"], attitude.get("roll_deg", 0.0)).tolist()


def camera_height_for(name: str, cameras: dict | None) -> float | None:
    """The camera's height above the floor (metres) from the first entry of config ``cameras``
    matching the recording, None when it gives none (capture/floor.py, ``scale_to_floor``)."""
    height = subject_for(name, cameras).get("height_m")
    return None if height is None else float(height)
