"""Image decodes share one memory budget per worker, and give their memory back when done.

Decoding costs memory in proportion to pixels, not bytes: a 12 KB PNG of 100 million pixels takes over
a gigabyte. So before an upload is decoded, its header says how many pixels it has, ``decode_cost``
turns that into bytes (measured peaks, below), and the decode waits until the worker's budget
(``HAVEN_DECODE_MEMORY``) has room for it. An image that could never fit is refused (413); one that
cannot get room within the upload timeout gets 503 ``busy``. After a large decode the C allocator is
asked to return its free memory to the system (glibc keeps freed memory of worker threads' arenas
otherwise, and the process would stay at its peak).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from haven.errors import BusyError, ImageTooLargeError
from haven.hashing.decode import open_image

MiB = 1024 * 1024
#: Peak bytes per pixel of hashing an image (decode, RGB conversion, PDQ), measured on 25 MP images with
#: Pillow 13: JPEG, PNG (RGB, RGBA, 16-bit), TIFF, BMP, CMYK 15; AVIF 16.4; HEIF 18; WebP 23 — rounded up.
BYTES_PER_PIXEL = {"WEBP": 24, "HEIF": 20, "AVIF": 20}
DEFAULT_BYTES_PER_PIXEL = 16
#: Decodes at least this large hand their freed memory back to the system afterwards.
TRIM_ABOVE = 32 * MiB


def decode_cost(data: bytes, label: str, max_pixels: int) -> int:
    """Bytes that hashing ``data`` will need at its peak, from the image header alone; raises the
    errors ``hash_bytes`` would (not an image, over the pixel limit) without decoding a pixel."""
    with open_image(io.BytesIO(data), label=label, max_pixels=max_pixels) as im:
        width, height = im.size
        per_pixel = BYTES_PER_PIXEL.get(im.format or "", DEFAULT_BYTES_PER_PIXEL)
    return width * height * per_pixel


class DecodeBudget:
    """Bytes of decode memory this worker may use at once (used from the event loop)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._changed = asyncio.Condition()

    def load(self) -> dict[str, Any]:
        """For ``/readyz``."""
        return {"in_use": self.used, "limit": self.limit, "saturated": self.used >= self.limit}

    @asynccontextmanager
    async def hold(self, cost: int, *, label: str, timeout: float) -> AsyncIterator[None]:
        """Hold ``cost`` bytes of the budget for the block, waiting up to ``timeout`` s for room."""
        if cost > self.limit:
            raise ImageTooLargeError(
                f"decoding this image needs about {cost // MiB} MiB, more than this service decodes at once "
                f"({self.limit // MiB} MiB, HAVEN_DECODE_MEMORY)", path=label, code="decode_memory")
        async with self._changed:
            try:
                room = self._changed.wait_for(lambda: self.used + cost <= self.limit)
                await asyncio.wait_for(room, timeout)
            except TimeoutError:
                raise BusyError("the service is decoding as many images as its memory allows; retry shortly",
                                retry_after=1) from None
            self.used += cost
        try:
            yield
        finally:
            async with self._changed:
                self.used -= cost
                self._changed.notify_all()


def _load_malloc_trim() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_malloc_trim = _load_malloc_trim()


def give_back_memory(cost: int) -> None:
    """After a decode of ``cost`` bytes: return free heap memory to the system (glibc ``malloc_trim``)."""
    if cost >= TRIM_ABOVE and _malloc_trim is not None:
        _malloc_trim(0)
