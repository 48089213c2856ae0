"""Runs the whole record store on one machine without Docker: PostgreSQL, services, Envoy."""
