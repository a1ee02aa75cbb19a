"""The native backend: modules as plain processes; development only, no TEE protection."""

from authex.tee.base import register
from authex.tee.native.backend import NativeBackend

register(NativeBackend())
