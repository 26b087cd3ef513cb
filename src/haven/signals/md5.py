"""MD5 of the file bytes — what NCMEC, IWF and Project VIC lists carry most."""

from haven.signals.base import HexDigestSignal


class Md5Signal(HexDigestSignal):
    name = "md5"
    hex_length = 32
    hashlib_name = "md5"
    description = "MD5 of the file's bytes: 32 hex digits, exact match"

    @classmethod
    def examples(cls) -> list[str]:
        return ["d41d8cd98f00b204e9800998ecf8427e"]  # MD5 of b""
