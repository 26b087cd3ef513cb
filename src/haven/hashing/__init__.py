"""Hashing: every registered signal of files, uploads and decoded pixels (PDQ, MD5, SHA-1, SHA-256 …)."""

from haven.hashing.files import (
    HashResult,
    algorithm_names,
    hash_bytes,
    hash_file,
    hash_many,
    iter_input_files,
    parse_algorithms,
)
from haven.hashing.pdq import DIHEDRAL_NAMES, PdqHash, pdq_from_pixels

__all__ = [
    "DIHEDRAL_NAMES",
    "HashResult",
    "PdqHash",
    "algorithm_names",
    "hash_bytes",
    "hash_file",
    "hash_many",
    "iter_input_files",
    "parse_algorithms",
    "pdq_from_pixels",
]
