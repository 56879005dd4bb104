"""Attacks on the surfaces ibbot exposes, one test each, written to fail before their fix."""
