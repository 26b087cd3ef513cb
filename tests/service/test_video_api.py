"""Videos through a real service: an uploaded video is streamed to a temporary file, hashed and matched
(vPDQ and MD5); a clip cut from it is matched by its vPDQ value through /v1/match/hashes; a broken video is
a 422 with its code; the upload limits hold for videos."""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import pytest
from service_live import live, wait_ready

import haven_videos as hv
from haven.hashing import hash_file


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    base = hv.slideshow(d / "base.mp4", hv.photos(100, 6))
    return {
        "base": base,
        "middle": hv.transcode(base, d / "middle.mp4", start=2.5, end=9.5, crf=30),
        "other": hv.slideshow(d / "other.mp4", hv.photos(120, 4)),
    }


def test_uploaded_video_is_hashed_and_matched(live, clips: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    wait_ready(live.url)
    banked = hash_file(clips["base"])
    with live.client(live.writer) as c:
        assert c.post("/v1/banks", json={"name": "videos"}).status_code == 201
        r = c.post(
            "/v1/banks/videos/entries",
            json={
                "entries": [
                    {"signal": "vpdq", "value": banked.hashes["vpdq"], "category": "A1"},
                    {"signal": "md5", "value": banked.hashes["md5"], "category": "A1"},
                ]
            },
        )
        assert r.status_code == 201, r.text
    temp_before = set(Path(tempfile.gettempdir()).glob("haven-upload-*"))
    with live.client(live.match) as c:
        r = c.post("/v1/hash", files={"file": ("v.mp4", clips["base"].read_bytes(), "video/mp4")})
        assert r.status_code == 200, r.text
        assert r.json()["vpdq"] == banked.hashes["vpdq"] and r.json()["vpdq_frame_count"] == 12

        def matched_on_both():  # type: ignore[no-untyped-def]
            x = c.post("/v1/match", files={"file": ("v.mp4", clips["base"].read_bytes(), "video/mp4")})
            return {m["signal"] for m in x.json().get("matches", [])} == {"vpdq", "md5"} and x

        deadline = time.monotonic() + 5
        while not (r := matched_on_both()):
            assert time.monotonic() < deadline, "the uploaded video did not match on vpdq and md5"
            time.sleep(0.1)
        body = r.json()
        m = next(m for m in body["matches"] if m["signal"] == "vpdq")
        assert (m["query_pct"], m["compared_pct"], m["distance"], m["bank"]) == (100, 100, 0, "videos")
        assert body["content_id"] == banked.hashes["sha256"] and body["path"] == "v.mp4"

        # A clip cut from it, re-encoded: matched by its vPDQ value alone.
        clip = hash_file(clips["middle"], ("vpdq",)).hashes["vpdq"]
        r = c.post("/v1/match/hashes", json={"vpdq": clip})
        assert r.status_code == 200, r.text
        (m,) = r.json()["matches"]
        assert m["signal"] == "vpdq" and m["query_pct"] >= 80 and m["compared_pct"] < 80
        # An hour-long video's value (3,600 frames, ~300 KB): within the query's body limit, and the banked
        # video inside it is found (a compilation).
        rng = random.Random(7)
        hour = ";".join(f"{n * 30},100,{rng.getrandbits(256):064x},{n:.3f}" for n in range(3588))
        long = hour + ";" + banked.hashes["vpdq"]
        r = c.post("/v1/match/hashes", json={"vpdq": long})
        assert r.status_code == 200 and len(long) > 250_000, r.text
        (m,) = r.json()["matches"]
        assert m["compared_pct"] == 100 and m["query_pct"] < 1
        other = hash_file(clips["other"], ("vpdq",)).hashes["vpdq"]
        assert c.post("/v1/match/hashes", json={"vpdq": other}).json()["matches"] == []
        assert c.post("/v1/match/hashes", json={"vpdq": "0,100,zz,0.000"}).status_code == 422

        # A broken video: an error record with its code; and no temporary file is left behind.
        data = clips["base"].read_bytes()
        r = c.post("/v1/match", files={"file": ("bad.mp4", data[: len(data) // 2], "video/mp4")})
        assert r.status_code == 422 and r.json()["code"] == "not_video", r.text
    assert set(Path(tempfile.gettempdir()).glob("haven-upload-*")) <= temp_before
