"""The plugin contract every plugin mirrors: :class:`Plugin`, and the tables ``dbp dump``/``load`` use.

(The connection and query bases are in :mod:`db_plugins.db.generic`.)
"""

from .plugin import Plugin
from .transfer import ModelTable, Table, TransferAdapter

__all__ = ["Plugin", "Table", "ModelTable", "TransferAdapter"]
