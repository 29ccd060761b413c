"""Exceptions raised by blockspin.

Every error of the library is a :class:`Error`. Bad input is also a :class:`ValueError`
(:class:`InvalidParameterError` names the parameter, as the command line names its flag),
a device that cannot be used is a :class:`DeviceError`, a file that cannot be written an
:class:`OSError`. A run stopped by Ctrl-C raises :class:`KeyboardInterrupt` (and leaves no
half-written file).
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "Error",
    "InvalidParameterError",
    "DeviceLimitError",
    "DeviceError",
    "NoAdapterError",
    "GpuError",
    "IoError",
    "InternalError",
]


class Error(Exception):
    """Base class of every blockspin error."""


class InvalidParameterError(Error, ValueError):
    """A parameter is out of range or malformed: the library's message, prefixed by the
    parameter's name in snake_case (``measure_every: must be ...``), which is also
    :attr:`param`."""

    def __init__(self, message: str, param: Optional[str] = None) -> None:
        super().__init__(message)
        #: The parameter (keyword argument) at fault.
        self.param = param


class DeviceLimitError(Error, ValueError):
    """The job does not fit the device or the host's memory (a named limit is exceeded)."""


class DeviceError(Error):
    """A GPU could not be used."""


class NoAdapterError(DeviceError):
    """``backend="gpu"`` was asked for but wgpu found no adapter."""


class GpuError(DeviceError):
    """wgpu reported an error while running a kernel."""


class IoError(Error, OSError):
    """A file could not be read or written."""


class InternalError(Error, RuntimeError):
    """A bug in blockspin (please report it)."""
