"""The plugin contract every plugin mirrors: :class:`Plugin`, :class:`BaseFeatures` (the flags
every plugin declares), and the tables ``dbp dump``/``load`` use.

(The connection and query bases are in :mod:`db_plugins.db.generic`.)
"""

from .features import BaseFeatures
from .plugin import Plugin
from .transfer import ModelTable, Table, TransferAdapter

__all__ = ["BaseFeatures", "Plugin", "Table", "ModelTable", "TransferAdapter"]
