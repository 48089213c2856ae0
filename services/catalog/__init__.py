"""The catalog service: discs, their stock, and stock reservations for purchases."""
