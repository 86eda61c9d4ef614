"""Delivery of the outbox (placeholder until the worker lands)."""
