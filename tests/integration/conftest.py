"""Fixtures shared by the integration tests beyond those of tests/conftest.py."""

from tests.integration.lifecycle import lifecycle  # noqa: F401 - sachbearbeiter's topics and processes
