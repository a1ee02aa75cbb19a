"""Stuck-module test: the first event it gets, it never returns from (it stops reading)."""

from __future__ import annotations

import time

from authex.sdk import Context, Module

module = Module()


@module.input()
def data(ctx: Context, payload: bytes) -> None:
    while True:
        time.sleep(3600)
