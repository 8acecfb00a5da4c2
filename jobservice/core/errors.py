"""Errors that stop the service from starting; each message says what to do."""

from __future__ import annotations


class StartupError(Exception):
    """The service cannot start; the message tells the operator why and what to do."""
