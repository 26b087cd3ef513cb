"""Matching methods compared by ``haven eval``, as pluggable strategies.

A method says which *value families* a bank entry holds and which a query looks up. A family is a
function ``pixels → {key: pdq}`` (``BANK_FAMILIES``, ``QUERY_FAMILIES``); each is computed once per
picture and shared by every method that uses it, so methods are compared on the very same hashes. A
``fallback`` query family is looked up only when the query's direct values matched nothing (as the
``Matcher`` does with a small image's upscaled values). A new method is one more ``Method`` row; a new
family one more function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from haven.hashing.ladder import upscaled_pdq
from haven.hashing.pdq import pdq_from_pixels
from haven.hashing.variants import (
    crop_values,
    equalized_value,
    half_values,
    pixel_dihedral,
    rotation_values,
    tone_values,
    trimmed_values,
)

Family = Callable[[np.ndarray], dict[str, str]]


def _orig(pixels: np.ndarray) -> dict[str, str]:
    return {"orig": pdq_from_pixels(pixels).hash}


def _dihedral(pixels: np.ndarray) -> dict[str, str]:
    rots = pdq_from_pixels(pixels, dihedral=True).dihedral or {}
    return {k: v for k, v in rots.items() if k != "orig"}


def _trim(pixels: np.ndarray) -> dict[str, str]:
    return trimmed_values(pixels)


def _pixel_dihedral(pixels: np.ndarray) -> dict[str, str]:
    return {f"px_{k}": v for k, v in pixel_dihedral(pixels).items()}


def _equalized(pixels: np.ndarray) -> dict[str, str]:
    v = equalized_value(pixels)
    return {} if v is None else {"histogram": v}


def _upscaled(pixels: np.ndarray) -> dict[str, str]:
    return {str(k): v for k, v in upscaled_pdq(pixels).items()}


BANK_FAMILIES: dict[str, Family] = {
    "orig": _orig,
    "trim": _trim,
    "crop": crop_values,
    "rotate": rotation_values,
    "equalized": _equalized,
    "tone": tone_values,
    "half": half_values,
}
QUERY_FAMILIES: dict[str, Family] = {
    "orig": _orig,
    "dihedral": _dihedral,
    "trim": _trim,
    "pixel_dihedral": _pixel_dihedral,
    "equalized": _equalized,
    "upscaled": _upscaled,
    "half": half_values,
}


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    bank: tuple[str, ...] = ("orig",)
    query: tuple[str, ...] = ("orig",)
    fallback: tuple[str, ...] = ()


METHODS: tuple[Method, ...] = (
    Method("pdq", "plain PDQ: the file's own hash on both sides"),
    Method("pdq+dihedral", "query also looks up its 8 rotations and flips", query=("orig", "dihedral")),
    Method("pdq+upscaled", "small queries also look up their upscaled values when nothing matched",
           fallback=("upscaled",)),
    Method("trim", "borders cut before hashing, on both sides (an extra value each)",
           bank=("orig", "trim"), query=("orig", "trim")),
    Method("bank-crops", "bank entries also hold centred crops", bank=("orig", "crop")),
    Method("bank-rotations", "bank entries also hold small rotations", bank=("orig", "rotate")),
    Method("pixel-dihedral", "small queries' rotations and flips hashed from moved pixels",
           query=("orig", "dihedral", "pixel_dihedral")),
    Method("equalized", "histogram-equalised hash on both sides", bank=("orig", "equalized"),
           query=("orig", "equalized")),
    Method("bank-tones", "bank entries also hold the picture under gamma 1.5 and 0.67",
           bank=("orig", "tone")),
    Method("halves", "each half of the picture hashed on its own, on both sides", bank=("orig", "half"),
           query=("orig", "half")),
    Method("haven", "Haven's defaults: all of the above together",
           bank=("orig", "trim", "crop", "rotate", "equalized", "tone", "half"),
           query=("orig", "dihedral", "pixel_dihedral", "trim", "equalized", "half"), fallback=("upscaled",)),
)

BY_NAME = {m.name: m for m in METHODS}
