"""Types of the compiled PDQ kernel (``_pdq.c``)."""

from typing import Any

import numpy as np

def hash(
    pixels: np.ndarray[Any, Any], width: int, height: int, channels: int, dihedral: bool = ...
) -> tuple[Any, int]:
    """``(32 raw bytes, quality)``, or ``(tuple of 8 raw hashes, quality)`` with ``dihedral``."""

def ladder(
    pixels: np.ndarray[Any, Any], width: int, height: int, channels: int, bands: list[Any]
) -> list[bytes]:
    """The 32-byte PDQ of each rung's banded operators."""
