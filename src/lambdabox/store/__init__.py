"""Durable state: the store interface and its SQLite implementation."""
