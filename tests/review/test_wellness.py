"""Reviewer wellness, enforced by the server: previews are grayscale and blurred derivatives (never the
original's bytes), a reveal needs a reason and is audited, exposure is counted, the daily cap stops the
queue, a break prompt comes after a run."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from PIL import Image
from review_helpers import Console, actor, blur_ratio, is_grayscale, photo

from haven.errors import PermissionDeniedError, UsageError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ANA = actor(1, "ana", "reviewer")


def test_preview_is_a_blurred_grayscale_derivative(cons: Console) -> None:
    data = photo(0).read_bytes()
    item = cons.enqueue(data)
    cons.service.next_item(ANA)
    got = cons.service.preview(ANA, item)
    assert got.media_type == "image/jpeg" and got.data != data and data not in got.data
    im = Image.open(io.BytesIO(got.data))
    original = Image.open(io.BytesIO(data))
    assert is_grayscale(im) and max(im.size) == 480
    assert blur_ratio(im, original) < 0.05
    # a weaker blur of the reviewer's choice still blurs, within the admin's bounds
    cons.service.set_blur(ANA, 4)
    weak = Image.open(io.BytesIO(cons.service.preview(ANA, item).data))
    assert blur_ratio(im, original) < blur_ratio(weak, original) < 0.2
    with pytest.raises(UsageError):
        cons.service.set_blur(ANA, 2)  # below the admin's minimum
    cons.service.configure(actor(99, "root", "admin"), {"blur_min": 6})
    assert cons.service.blur_of(ANA) == 6  # a stored choice below a raised minimum is clamped


def test_reveal_needs_a_reason_is_audited_and_counted(cons: Console) -> None:
    data = photo(1).read_bytes()
    item = cons.enqueue(data)
    cons.service.next_item(ANA)
    with pytest.raises(PermissionDeniedError):
        cons.service.original(ANA, item)  # not revealed yet
    with pytest.raises(UsageError):
        cons.service.reveal(ANA, item, "  ")
    cons.service.reveal(ANA, item, "blurred preview unclear, need to check the age")
    assert cons.service.original(ANA, item).data == data
    assert cons.service.view(ANA, item).revealed
    ben = actor(2, "ben")
    with pytest.raises(Exception):  # noqa: B017 - ben holds no lease on it
        cons.service.original(ben, item)
    reveal = cons.audit.entries(event="review.reveal")[0]
    assert reveal.actor == ANA.label and "age" in reveal.detail["reason"]
    assert [e.actor for e in cons.audit.entries(event="vault.reveal")] == [ANA.label]
    today = cons.service.today(ANA)
    assert (today.items_seen, today.reveals) == (1, 1)


def test_video_preview_is_a_strip_of_blurred_grayscale_keyframes(cons: Console, tmp_path: Path) -> None:
    from haven_videos import photos, slideshow

    video = slideshow(tmp_path / "v.mp4", photos(0, 4), seconds_each=1.0, fps=10)
    data = video.read_bytes()
    item = cons.enqueue(data, name="clip.mp4", media_type="video/mp4")
    cons.service.next_item(ANA)
    got = cons.service.preview(ANA, item)
    strip = Image.open(io.BytesIO(got.data))
    assert got.media_type == "image/jpeg" and is_grayscale(strip)
    assert strip.width > 2 * strip.height  # several frames side by side
    cons.service.reveal(ANA, item, "need to see the frames in colour")
    shown = Image.open(io.BytesIO(cons.service.original(ANA, item).data))
    assert not is_grayscale(shown) and shown.format == "JPEG"  # frames, never the file with its sound


def test_daily_cap_stops_the_queue_and_breaks_are_prompted(cons: Console) -> None:
    root = actor(99, "root", "admin")
    cons.service.configure(root, {"daily_cap": 3, "break_after": 2})
    items = [cons.enqueue(photo(n).read_bytes()) for n in range(5)]
    got = cons.service.next_item(ANA)
    cons.clock.advance(seconds=30)
    cons.service.decide(ANA, got.item.id, "confirm", classification="B2")
    got = cons.service.next_item(ANA)
    cons.clock.advance(seconds=30)
    cons.service.decide(ANA, got.item.id, "confirm", classification="B2")
    assert cons.service.next_item(ANA).reason == "break"
    cons.service.take_break(ANA)
    got = cons.service.next_item(ANA)
    assert got.item is not None
    cons.clock.advance(minutes=9)  # an idle gap is not counted as time in the queue
    cons.service.decide(ANA, got.item.id, "skip")
    assert cons.service.next_item(ANA).reason == "cap"
    assert cons.service.next_item(actor(2, "ben")).item is not None  # the cap is per reviewer
    today = cons.service.today(ANA)
    assert today.items_seen == 3 and today.active_seconds == 60
    cons.clock.advance(days=1)
    assert cons.service.next_item(ANA).item is not None  # a new day
    team = {t.username: (t.items_seen, w.items_seen) for t, w in cons.service.team()}
    assert team == {"ana": (1, 4), "ben": (0, 1)}
    assert len(items) == 5
