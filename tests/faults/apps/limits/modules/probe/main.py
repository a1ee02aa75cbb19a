"""Limits test: what its own process sees of its limits, dumpable flag and folder."""

from __future__ import annotations

import ctypes
import json
import os
import resource

from authex.sdk import Context, Module

module = Module()


@module.entry()
def limits(ctx: Context, arg: bytes) -> bytes:
    libc = ctypes.CDLL(None, use_errno=True)
    return json.dumps(
        {
            "core": list(resource.getrlimit(resource.RLIMIT_CORE)),
            "data": list(resource.getrlimit(resource.RLIMIT_DATA)),
            "dumpable": libc.prctl(3, 0, 0, 0, 0),  # PR_GET_DUMPABLE
            "cwd": os.getcwd(),
            "pid": os.getpid(),
        }
    ).encode()
