"""``haven eval``: measured matching robustness on a folder of photos — a documented transform suite
(``transforms``), matching methods as strategies (``methods``), the recall and false-match computation on
the exact Hamming index (``run``), and the table, goals and plot (``report``). docs/eval.md has the numbers.
"""

from haven.eval.methods import METHODS, Method
from haven.eval.run import EvalResult, Row, photo_files, run_eval
from haven.eval.transforms import TRANSFORMS, Transform

__all__ = ["METHODS", "TRANSFORMS", "EvalResult", "Method", "Row", "Transform", "photo_files", "run_eval"]
