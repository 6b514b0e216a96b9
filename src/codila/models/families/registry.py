"""The only list of DLM families: `--dlm-family`, detection from config.json and the docs read it."""

from __future__ import annotations

from pathlib import Path

from codila.errors import CodilaError
from codila.models.families import codila, dream, llada
from codila.models.families.base import Family, read_config

FAMILIES: dict[str, Family] = {family.name: family for family in (dream.FAMILY, llada.FAMILY, codila.FAMILY)}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise CodilaError(f"unknown DLM family {name!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def detected_family(directory: Path, config: dict) -> Family | None:
    """The family config.json's model_type names (codila.json: ours); None when it names none."""
    if (directory / "codila.json").is_file():
        return FAMILIES["codila"]
    model_type = str(config.get("model_type", "")).lower()
    return next((family for family in FAMILIES.values() if model_type in family.model_types), None)


def resolve_family(directory: str | Path, requested: str | None) -> tuple[Family, dict]:
    """(family, config dict) of a DLM directory: the requested one, which must not contradict config.json, else the
    detected one; a directory of no known family is codila's when its config says is_causal: false."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CodilaError(f"DLM directory {directory} does not exist: fix the path")
    config = read_config(directory)
    detected = detected_family(directory, config)
    if requested is not None:
        family = get_family(requested)
        if detected is not None and detected is not family:
            raise CodilaError(
                f"--dlm-family {requested} contradicts {directory}/config.json (model_type "
                f"{config.get('model_type')!r} is the {detected.name} family): drop --dlm-family or pass {detected.name}"
            )
        return family, config
    if detected is None:
        if config.get("is_causal", True):
            raise CodilaError(
                f"{directory}: model_type {config.get('model_type')!r} names no known DLM family: pass --dlm-family "
                f"({', '.join(FAMILIES)})"
            )
        return FAMILIES["codila"], config
    return detected, config


def family_table() -> str:
    return "\n".join(f"{family.name:8} {family.summary}" for family in FAMILIES.values())
