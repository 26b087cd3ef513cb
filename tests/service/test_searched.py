"""The service says what it searched: ``/readyz`` and every match response carry how many banks and entries
a match checks, so a client can tell "no match" from "nothing to check" (a real server, its own database)."""

from __future__ import annotations

from service_live import PHOTOS, eventually, live, wait_ready

from haven.hashing import hash_file

PHOTO = sorted(PHOTOS.glob("*.jp*g"))[0]


def test_readyz_and_match_responses_say_what_was_searched(live) -> None:  # type: ignore[no-untyped-def]
    wait_ready(live.url)
    h = hash_file(PHOTO)
    with live.client(live.match) as c:
        ready = c.get("/readyz").json()
        assert ready["status"] == "ready"
        assert ready["searched"] == {"banks": 0, "entries": {}, "seq": 0}  # no bank yet: nothing is checked
        r = c.post("/v1/match/hashes", json={"md5": h.hashes["md5"]})
        assert r.status_code == 200
        assert r.json()["matched"] is False and r.json()["searched"] == {"banks": 0, "entries": 0, "seq": 0}

    with live.client(live.writer) as c:
        assert c.post("/v1/banks", json={"name": "one"}).status_code == 201
        entries = [{"signal": s, "value": h.hashes[s]} for s in ("pdq", "md5")]
        assert c.post("/v1/banks/one/entries", json={"entries": entries}).status_code == 201
        assert c.post("/v1/banks", json={"name": "off"}).status_code == 201
        assert c.post("/v1/banks/off/entries", json={"entries": entries[1:]}).status_code == 201
        assert c.patch("/v1/banks/off", json={"enabled": False}).status_code == 200

    with live.client(live.match) as c:
        # The service recounts the entries at most every 5 s while they change.
        ready = eventually(lambda: (b := c.get("/readyz").json())["searched"]["banks"] and b, timeout=10)
        # The disabled bank is not searched, so neither it nor its entry is counted.
        assert ready["searched"]["banks"] == 1 and ready["searched"]["entries"] == {"md5": 1, "pdq": 1}
        assert ready["searched"]["seq"] > 0
        body = c.post("/v1/match/hashes", json={"md5": h.hashes["md5"]}).json()
        # Only the query's signals count: one MD5 entry was searched for an MD5 query.
        assert body["matched"] is True and body["searched"]["banks"] == 1 and body["searched"]["entries"] == 1
        upload = {"file": ("p.jpg", PHOTO.read_bytes())}

        def both_counted() -> dict | None:  # type: ignore[type-arg]
            x = c.post("/v1/match", files=upload).json()
            return x if x["searched"]["entries"] == 2 else None

        body = eventually(both_counted, timeout=10)
        assert body and body["searched"]["banks"] == 1
        batch = c.post("/v1/match/hashes/batch", json={"items": [{"pdq": h.hashes["pdq"]}]}).json()
        assert batch["results"][0]["searched"] == {**body["searched"], "entries": 1}
