"""Hashing: PDQ (perceptual) and MD5 / SHA-1 / SHA-256 (cryptographic) of files and pixels."""

from haven.hashing.files import ALGORITHMS, HashResult, hash_bytes, hash_file, iter_input_files, parse_algorithms
from haven.hashing.pdq import DIHEDRAL_NAMES, PdqHash, pdq_from_pixels

__all__ = [
    "ALGORITHMS",
    "DIHEDRAL_NAMES",
    "HashResult",
    "PdqHash",
    "hash_bytes",
    "hash_file",
    "iter_input_files",
    "parse_algorithms",
    "pdq_from_pixels",
]
