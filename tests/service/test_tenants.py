"""Tenants apart: a match record belongs to the API key that made it. Against a live server on loopback."""

from __future__ import annotations

from service_live import live


def test_another_key_cannot_read_or_overwrite_a_record(live) -> None:  # type: ignore[no-untyped-def]
    _, alice = live.keys.create("alice", ["match"])
    _, mallory = live.keys.create("mallory", ["match"])
    with live.client(alice) as a, live.client(mallory) as m:
        r = a.post("/v1/match", data={"content_id": "upload-7"},
                   files={"file": ("alice-holiday.png", _png(), "image/png")})
        assert r.status_code == 200, r.text
        mine = a.get("/v1/matches/upload-7")
        assert mine.status_code == 200 and mine.json()["result"]["path"] == "alice-holiday.png"

        # Another key: the record does not exist for it, file name included.
        r = m.get("/v1/matches/upload-7")
        assert r.status_code == 404 and r.json()["code"] == "not_found"
        assert "alice" not in r.text

        # Writing under the same id records the other key's own result, never replacing alice's.
        r = m.post("/v1/match/hashes", json={"md5": "0" * 32, "content_id": "upload-7"})
        assert r.status_code == 200
        assert a.get("/v1/matches/upload-7").json() == mine.json()
        theirs = m.get("/v1/matches/upload-7").json()
        assert theirs["kind"] == "hashes" and "path" not in theirs["result"]

        # The same holds for the SHA-256 content id an upload gets by default.
        sha = a.post("/v1/match", files={"file": ("x.png", _png(), "image/png")}).json()["content_id"]
        assert a.get(f"/v1/matches/{sha}").status_code == 200
        assert m.get(f"/v1/matches/{sha}").status_code == 404


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(buf, "PNG")
    return buf.getvalue()
