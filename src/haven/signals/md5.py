"""MD5 of the file bytes — what NCMEC, IWF and Project VIC lists carry most."""

from haven.signals.base import HexDigestSignal


class Md5Signal(HexDigestSignal):
    name = "md5"
    hex_length = 32
    hashlib_name = "md5"
    description = "MD5 of the file's bytes: 32 hex digits, exact match"
    # python-threatexchange and HMA have no photo MD5 type; theirs is the same MD5 of the file's bytes.
    aliases = {"pytx": "video_md5", "hma": "video_md5"}

    @classmethod
    def examples(cls) -> list[str]:
        # Of b"" and of b"abc" (the FIPS 180 / RFC 1321 test vector).
        return ["d41d8cd98f00b204e9800998ecf8427e",
                "900150983cd24fb0d6963f7d28e17f72"]
