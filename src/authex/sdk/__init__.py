"""The Python module SDK: declare a module's interface with ``Module``, act through ``Context``.

    from authex.sdk import Context, Module

    module = Module()
    module.outputs("alert")

    @module.input()
    def reading(ctx: Context, data: bytes) -> None:
        ctx.emit("alert", data)

Building lives in ``authex.sdk.build``, the module process in ``authex.sdk.runner`` (started by
the agent, never imported here), and in-process unit testing in ``authex.sdk.testing``.
"""

from authex.sdk.module import Context, Module, RequestError

__all__ = ["Context", "Module", "RequestError"]
