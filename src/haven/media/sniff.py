"""Type by content: a small magic-byte table for the images, videos, archives and disk images triage meets.

Extensions lie (offenders rename files); the first bytes rarely do. Returns a MIME type;
``kind_of`` groups it into what triage does with it: image, video, archive, disk, other.
"""

from __future__ import annotations

HEADER_BYTES = 4096  # enough for tar's "ustar" at 257 and the FAT/NTFS boot sector

_FTYP_IMAGE = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def sniff(head: bytes) -> str:
    """Guess the MIME type of a file from its first bytes (``HEADER_BYTES`` are enough)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _FTYP_IMAGE:
            return "image/heic"
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "video/x-matroska"
    if head.startswith(b"FLV\x01"):
        return "video/x-flv"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video/x-ms-asf"
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return "video/mpeg"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:  # MPEG-TS: a sync byte every 188
        return "video/mp2t"
    if head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\x00\x00\x00\x00":
        return "image/bmp"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "application/zip"
    if head[257:262] == b"ustar":
        return "application/x-tar"
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    if head.startswith(b"BZh"):
        return "application/x-bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "application/x-xz"
    if head.startswith(b"EVF\x09\x0d\x0a\xff\x00"):
        return "application/x-ewf"
    if head.startswith(b"%PDF"):
        return "application/pdf"
    if len(head) >= 512 and head[510:512] == b"\x55\xaa":
        if (
            head[3:11] == b"NTFS    "
            or head[54:59] == b"FAT12"
            or head[54:59] == b"FAT16"
            or head[82:87] == b"FAT32"
        ):
            return "application/x-raw-disk-image"
        if head[0x1BE + 4] != 0:  # an MBR with a first partition entry
            return "application/x-raw-disk-image"
    if len(head) >= 1082 and head[1080:1082] == b"\x53\xef":
        return "application/x-raw-disk-image"  # ext2/3/4 superblock magic
    return "application/octet-stream"


def kind_of(mime: str) -> str:
    """image, video, archive (zip/tar/compressed tar), disk (raw/E01) or other."""
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("video/"):
        return "video"
    if mime in (
        "application/zip",
        "application/x-tar",
        "application/gzip",
        "application/x-bzip2",
        "application/x-xz",
    ):
        return "archive"
    if mime in ("application/x-raw-disk-image", "application/x-ewf"):
        return "disk"
    return "other"
