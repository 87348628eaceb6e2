"""Compatibility layers for code written against other versions of db-plugins.

Nothing in the rest of the package imports from here: each layer is built on
the public API of the connections and queries, and is only loaded when an
application imports it.
"""
