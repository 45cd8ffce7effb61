"""Flows shared by the command line and the wizard (no frontend imports here)."""
