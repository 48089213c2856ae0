"""The orders service: purchases, which take stock through the catalog's ReserveStock."""
