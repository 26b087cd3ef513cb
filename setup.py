"""Build the compiled kernels (C, no third-party headers beyond NumPy-free Python C API).

Everything else about the package lives in pyproject.toml. The kernels are built with
-ffp-contract=off so the compiler never fuses a*b+c into one FMA: PDQ must round exactly
like the reference implementation to stay bit-exact.
"""

from setuptools import Extension, setup

COMMON_FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-std=c99"]

setup(
    ext_modules=[
        Extension(
            "haven.hashing._pdq",
            sources=["src/haven/hashing/_pdq.c"],
            extra_compile_args=COMMON_FLAGS,
        ),
        Extension("haven.index._mih", sources=["src/haven/index/_mih.c"], extra_compile_args=COMMON_FLAGS),
    ],
)
