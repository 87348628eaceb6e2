"""What both halves of the 4.x layer share: its warning and its not-connected error."""

from __future__ import annotations

import warnings

from ...errors import DBPluginsError

__all__ = ["AlerceCompatWarning", "NotConnectedError", "deprecated"]


class AlerceCompatWarning(DeprecationWarning):
    """A 4.x form used through :mod:`db_plugins.compat.alerce`; the message names the modern form.

    Filter on this class to silence (or raise on) the compatibility layer alone.
    """


class NotConnectedError(DBPluginsError, AttributeError):
    """A method that needs a connection was called before ``connect()``.

    An ``AttributeError`` too, which is what 4.x raised there.
    """


def deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is the 4.x form and ``new`` its replacement."""
    warnings.warn(f"{old} is the ALeRCE db-plugins 4.x form; use {new}", AlerceCompatWarning, stacklevel=stacklevel)
