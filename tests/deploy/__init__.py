"""Tests of deploy/: the local federation script, the example config, compose and its init."""
