"""Build the compiled kernels (C, no third-party headers beyond NumPy-free Python C API).

Everything else about the package lives in pyproject.toml. The kernels are built with
-ffp-contract=off so the compiler never fuses a*b+c into one FMA: PDQ must round exactly
like the reference implementation to stay bit-exact.
"""

import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class AtomicBuildExt(build_ext):
    """Install each built .so by rename, never by overwriting in place.

    Editable installs copy the extension into src/; overwriting a shared object that running
    processes have mapped crashes them. A rename leaves their mapping intact.
    """

    def copy_file(self, infile, outfile, *args, **kwargs):  # type: ignore[no-untyped-def]
        if os.path.isdir(outfile):
            return super().copy_file(infile, outfile, *args, **kwargs)
        tmp = f"{outfile}.tmp-{os.getpid()}"
        _, copied = super().copy_file(infile, tmp, *args, **kwargs)
        os.replace(tmp, outfile)
        return outfile, copied


COMMON_FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-std=c99"]

setup(
    cmdclass={"build_ext": AtomicBuildExt},
    ext_modules=[
        Extension(
            "haven.hashing._pdq",
            sources=["src/haven/hashing/_pdq.c"],
            extra_compile_args=COMMON_FLAGS,
        ),
        Extension("haven.index._mih", sources=["src/haven/index/_mih.c"], extra_compile_args=COMMON_FLAGS),
    ],
)
