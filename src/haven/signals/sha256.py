"""SHA-256 of the file bytes (evidence integrity, modern lists)."""

from haven.signals.base import HexDigestSignal


class Sha256Signal(HexDigestSignal):
    name = "sha256"
    hex_length = 64
    hashlib_name = "sha256"
    in_tables = False  # long; `--json` shows it
    description = "SHA-256 of the file's bytes: 64 hex digits, exact match"

    @classmethod
    def examples(cls) -> list[str]:
        # Of b"" and of b"abc" (the FIPS 180 / RFC 1321 test vector).
        return ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"]
