"""Haven: hash, match, triage and report known child-abuse material — from discovery to recovery.

The public API is deliberately small; everything else is reached through its subpackage.
"""

from haven.errors import HavenError, InputError, UsageError
from haven.hashing import HashResult, hash_file

__version__ = "0.1.0"

__all__ = [
    "HashResult",
    "HavenError",
    "InputError",
    "UsageError",
    "__version__",
    "hash_file",
]
