"""The benchmark of the whole system against the database's own limit: python -m bench."""
