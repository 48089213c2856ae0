"""The customers service: customer accounts, which are deactivated rather than deleted."""
