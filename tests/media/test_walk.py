"""The walker: folders, zip, tar.gz, nesting, and hostile archives (bomb, traversal, depth, corruption)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from haven.media import Entry, EvidencePath, Limits, Problem, read_evidence, walk


def jpeg(color: str = "red", size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, "JPEG")
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def entries(items: list[Entry | Problem]) -> dict[str, Entry]:
    return {str(i.path): i for i in items if isinstance(i, Entry)}


def problems(items: list[Entry | Problem]) -> dict[tuple[str, str], Problem]:
    return {(str(i.path), i.error.code): i for i in items if isinstance(i, Problem)}


def test_folder_zip_nested_and_tar(tmp_path: Path) -> None:
    src = tmp_path / "seizure"
    (src / "phone" / "DCIM").mkdir(parents=True)
    (src / "phone" / "DCIM" / "a.jpg").write_bytes(jpeg())
    (src / "phone" / "renamed.txt").write_bytes(jpeg("blue"))  # an image with a lying extension
    inner = zip_bytes({"deep/c.jpg": jpeg("green")})
    (src / "backup.zip").write_bytes(
        zip_bytes({"b.jpg": jpeg("white"), "inner.zip": inner}, zipfile.ZIP_DEFLATED)
    )
    with tarfile.open(src / "old.tar.gz", "w:gz") as tf:
        data = jpeg("black")
        info = tarfile.TarInfo("pics/d.jpg")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    items = list(walk([src]))
    got = entries(items)
    root = str(src)
    assert set(got) == {
        f"{root}/backup.zip",
        f"{root}/backup.zip!/b.jpg",
        f"{root}/backup.zip!/inner.zip",
        f"{root}/backup.zip!/inner.zip!/deep/c.jpg",
        f"{root}/old.tar.gz",
        f"{root}/old.tar.gz!/pics/d.jpg",
        f"{root}/phone/DCIM/a.jpg",
        f"{root}/phone/renamed.txt",
    }
    assert got[f"{root}/phone/renamed.txt"].mime == "image/jpeg"
    assert got[f"{root}/backup.zip!/inner.zip!/deep/c.jpg"].read() == jpeg("green")
    assert got[f"{root}/backup.zip!/inner.zip!/deep/c.jpg"].path.depth == 2
    assert not problems(items)
    # Reading back by address, without extracting anything.
    wanted = [
        EvidencePath.parse(f"{root}/backup.zip!/inner.zip!/deep/c.jpg"),
        EvidencePath.parse(f"{root}/phone/DCIM/a.jpg"),
    ]
    missing = EvidencePath.parse(f"{root}/backup.zip!/gone.jpg")
    back, not_found = read_evidence([*wanted, missing])
    assert back[wanted[0]] == jpeg("green") and back[wanted[1]] == jpeg()
    assert [(p.path, p.error.code) for p in not_found] == [(missing, "not_found")]  # named, never dropped


def test_zip_bomb_is_skipped_and_the_walk_goes_on(tmp_path: Path) -> None:
    bomb = zip_bytes({"zeros.bin": b"\0" * (20 * 1024 * 1024), "ok.jpg": jpeg()}, zipfile.ZIP_DEFLATED)
    assert len(bomb) < 100_000
    (tmp_path / "bomb.zip").write_bytes(bomb)
    items = list(walk([tmp_path / "bomb.zip"]))
    probs = problems(items)
    key = (f"{tmp_path}/bomb.zip!/zeros.bin", "zip_bomb")
    assert key in probs and probs[key].skipped
    assert f"{tmp_path}/bomb.zip!/ok.jpg" in entries(items)
    assert f"{tmp_path}/bomb.zip!/zeros.bin" not in entries(items)


def test_member_over_the_hold_limit_is_streamed_through_the_hashers(tmp_path: Path) -> None:
    import hashlib

    limits = Limits(max_member_bytes=1000, ratio_min_bytes=10**9)
    body = b"x" * 5000
    (tmp_path / "big.zip").write_bytes(zip_bytes({"big.bin": body}))
    items = list(walk([tmp_path / "big.zip"], limits))
    big = entries(items)[f"{tmp_path}/big.zip!/big.bin"]
    assert big.data is None and big.size == 5000  # never held whole
    assert big.digests is not None and big.digests["sha256"] == hashlib.sha256(body).hexdigest()
    # The total budget per source stops a bomb spread over many small members, and names each one left.
    many = zip_bytes({f"m{i}.bin": b"y" * 600 for i in range(10)})
    (tmp_path / "many.zip").write_bytes(many)
    limits = Limits(max_source_bytes=3000 - len(many), source_min_bytes=0, max_ratio=1, ratio_min_bytes=10**9)
    items = list(walk([tmp_path / "many.zip"], limits))
    assert len([e for e in entries(items) if "!/" in e]) == 5
    assert sum(1 for (_, code) in problems(items) if code == "zip_bomb") == 5


def test_member_that_decompresses_past_its_declared_size_is_caught(tmp_path: Path) -> None:
    data = bytearray(zip_bytes({"liar.bin": b"z" * 50_000, "ok.jpg": jpeg()}, zipfile.ZIP_DEFLATED))
    # Rewrite the central directory's uncompressed size of liar.bin: 50,000 -> 1,000.
    cd = data.find(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (1000).to_bytes(4, "little")
    (tmp_path / "liar.zip").write_bytes(bytes(data))
    items = list(walk([tmp_path / "liar.zip"]))
    assert problems(items)[(f"{tmp_path}/liar.zip!/liar.bin", "zip_bomb")].skipped
    assert f"{tmp_path}/liar.zip!/ok.jpg" in entries(items)


def test_path_traversal_member_is_recorded_and_never_written(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "evil.zip").write_bytes(zip_bytes({"../../escaped.jpg": jpeg(), "/etc/abs.jpg": jpeg("blue")}))
    before = set(os.listdir(tmp_path))
    cwd = os.getcwd()
    os.chdir(work)
    try:
        items = list(walk([work / "evil.zip"]))
    finally:
        os.chdir(cwd)
    probs = problems(items)
    assert (f"{work}/evil.zip!/../../escaped.jpg", "path_traversal") in probs
    assert (f"{work}/evil.zip!//etc/abs.jpg", "path_traversal") in probs
    assert not probs[(f"{work}/evil.zip!/../../escaped.jpg", "path_traversal")].skipped
    got = entries(items)
    assert got[f"{work}/evil.zip!/../../escaped.jpg"].read() == jpeg()  # still hashed, as evidence
    assert set(os.listdir(tmp_path)) == before and os.listdir(work) == ["evil.zip"]


def test_depth_limit_and_corrupt_archives(tmp_path: Path) -> None:
    level = zip_bytes({"x.jpg": jpeg()})
    for _ in range(4):
        level = zip_bytes({"n.zip": level})
    (tmp_path / "deep.zip").write_bytes(level)
    items = list(walk([tmp_path / "deep.zip"], Limits(max_depth=2)))
    probs = problems(items)
    assert any(code == "too_deep" for (_, code) in probs)
    assert not any(p.endswith("x.jpg") for p in entries(items))
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    (tmp_path / "after.jpg").write_bytes(jpeg())
    items = list(walk([tmp_path / "broken.zip", tmp_path / "after.jpg"]))
    assert (f"{tmp_path}/broken.zip", "corrupt_archive") in problems(items)
    assert f"{tmp_path}/after.jpg" in entries(items)
    items = list(walk([tmp_path / "missing"]))
    assert problems(items)[(f"{tmp_path}/missing", "not_found")]


def test_want_skips_reading_done_files_but_reaches_nested_ones(tmp_path: Path) -> None:
    (tmp_path / "a.zip").write_bytes(
        zip_bytes({"inner.zip": zip_bytes({"x.jpg": jpeg()}), "y.jpg": jpeg("blue")})
    )
    done = {f"{tmp_path}/a.zip", f"{tmp_path}/a.zip!/inner.zip", f"{tmp_path}/a.zip!/y.jpg"}
    got = entries(list(walk([tmp_path], want=lambda p: str(p) not in done)))
    assert set(got) == {f"{tmp_path}/a.zip!/inner.zip!/x.jpg"}


def _fat_image(tmp_path: Path) -> Path:
    # mkfs.vfat lives in /usr/sbin, which a non-login PATH may leave out.
    mkfs = shutil.which("mkfs.vfat", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if not (mkfs and shutil.which("mcopy")):
        pytest.skip("mkfs.vfat / mcopy (dosfstools, mtools) not installed")
    img = tmp_path / "card.dd"
    with open(img, "wb") as fh:
        fh.truncate(4 * 1024 * 1024)
    subprocess.run([mkfs, "-n", "CARD", str(img)], check=True, capture_output=True)
    (tmp_path / "p.jpg").write_bytes(jpeg("red", 32))
    (tmp_path / "q.zip").write_bytes(zip_bytes({"z.jpg": jpeg("blue", 32)}))
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    subprocess.run(["mmd", "-i", str(img), "::DCIM"], check=True, capture_output=True, env=env)
    subprocess.run(
        ["mcopy", "-i", str(img), str(tmp_path / "p.jpg"), "::DCIM/P.JPG"],
        check=True,
        capture_output=True,
        env=env,
    )
    subprocess.run(
        ["mcopy", "-i", str(img), str(tmp_path / "q.zip"), "::Q.ZIP"],
        check=True,
        capture_output=True,
        env=env,
    )
    return img


def test_raw_disk_image(tmp_path: Path) -> None:
    pytest.importorskip("pytsk3")
    img = _fat_image(tmp_path)
    items = list(walk([img]))
    got = entries(items)
    assert got[f"{img}"].mime == "application/x-raw-disk-image"
    assert got[f"{img}!/DCIM/P.JPG"].read() == jpeg("red", 32)
    assert got[f"{img}!/Q.ZIP!/z.jpg"].read() == jpeg("blue", 32)
    assert not problems(items)


def test_e01_disk_image(tmp_path: Path) -> None:
    pytest.importorskip("pytsk3")
    pytest.importorskip("pyewf")
    if not shutil.which("ewfacquire"):
        pytest.skip("ewfacquire (ewf-tools) not installed")
    raw = _fat_image(tmp_path)
    target = tmp_path / "card"
    subprocess.run(
        ["ewfacquire", "-u", "-t", str(target), "-f", "encase6", "-c", "none", "-S", "1GiB", "-q", str(raw)],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    e01 = tmp_path / "card.E01"
    items = list(walk([e01]))
    got = entries(items)
    assert got[str(e01)].mime == "application/x-ewf"
    assert got[f"{e01}!/DCIM/P.JPG"].read() == jpeg("red", 32)
