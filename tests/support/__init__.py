"""Helpers shared by every test layer: deterministic media, and more as layers need them."""
