"""Database plugins: :mod:`db_plugins.db.generic` holds the shared interface,
each sub-package (``sql``, ``mongo``) one engine family."""
