"""EXIF leads that help identify victims and places: camera make/model/serial, original date, GPS position."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

_IFD_EXIF, _IFD_GPS = 0x8769, 0x8825
_BASE_TAGS = {0x010F: "make", 0x0110: "model", 0x0131: "software", 0x013B: "artist", 0x0132: "datetime"}
_EXIF_TAGS = {
    0x9003: "datetime_original",
    0xA431: "serial",
    0xA435: "lens_serial",
    0xA420: "image_unique_id",
    0xA430: "owner",
}
_MAX_LEN = 128


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value is None:
        return None
    text = "".join(ch for ch in str(value) if ch.isprintable()).strip()
    return text[:_MAX_LEN] or None


def _degrees(dms: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60.0 + s / 3600.0
    if _text(ref) in ("S", "W"):
        value = -value
    if not (-180.0 <= value <= 180.0):
        return None
    return round(value, 6)


def read_exif(data: bytes) -> dict[str, Any]:
    """The EXIF leads in an image's bytes (only keys that are present); {} when none or unreadable."""
    # No warnings.catch_warnings() here: it swaps process-wide state and this may run in threads.
    try:
        with Image.open(io.BytesIO(data)) as im:
            exif = im.getexif()
            if not exif:
                return {}
            out: dict[str, Any] = {}
            for tag, key in _BASE_TAGS.items():
                if (v := _text(exif.get(tag))) is not None:
                    out[key] = v
            sub = exif.get_ifd(_IFD_EXIF)
            for tag, key in _EXIF_TAGS.items():
                if (v := _text(sub.get(tag))) is not None:
                    out[key] = v
            gps = exif.get_ifd(_IFD_GPS)
            if gps:
                lat, lon = _degrees(gps.get(2), gps.get(1)), _degrees(gps.get(4), gps.get(3))
                if lat is not None and lon is not None and abs(lat) <= 90:
                    out["gps_lat"], out["gps_lon"] = lat, lon
            return out
    except Exception:  # noqa: BLE001 - EXIF is a bonus; a broken block must never fail the file
        return {}


def has_leads(exif: dict[str, Any]) -> bool:
    """True when the EXIF names a place, a device or a date (what an examiner follows up)."""
    return any(
        k in exif for k in ("gps_lat", "serial", "make", "model", "datetime_original", "owner", "artist")
    )
