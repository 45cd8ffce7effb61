"""Reproducible measurements of what users feel (start-up, log flood, idle CPU, lab deploy time); not tests."""
