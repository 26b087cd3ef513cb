"""SHA-1 of the file bytes (Project VIC / VICS lists)."""

from haven.signals.base import HexDigestSignal


class Sha1Signal(HexDigestSignal):
    name = "sha1"
    hex_length = 40
    hashlib_name = "sha1"
    in_tables = False  # long; `--json` shows it
    description = "SHA-1 of the file's bytes: 40 hex digits, exact match"

    @classmethod
    def examples(cls) -> list[str]:
        # Of b"" and of b"abc" (the FIPS 180 / RFC 1321 test vector).
        return ["da39a3ee5e6b4b0d3255bfef95601890afd80709",
                "a9993e364706816aba3e25717850c26c9cd0d89d"]
