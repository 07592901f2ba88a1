"""The accord command line. Home of click."""
