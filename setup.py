"""Declares the optional C accelerator only; all project metadata lives in pyproject.toml.

``optional=True``: when no C compiler (or no Python headers) is available the build of
``authex.crypto._spongent`` is skipped with a warning, the install still succeeds and authex uses
its pure-Python SPONGENT/SpongeWrap (see docs/sancus-crypto.md, "Accelerator").
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "authex.crypto._spongent",
            ["src/authex/crypto/_spongent.c"],
            optional=True,
        )
    ]
)
