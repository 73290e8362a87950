"""The SQLite store: the Store, its ordered migrations, the audit log."""
