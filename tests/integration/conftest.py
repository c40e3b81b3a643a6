"""Fixtures shared by the integration tests beyond those of tests/conftest.py."""

from tests.integration.lifecycle import lifecycle  # noqa: F401 - sachbearbeiter's topics and processes
from tests.integration.staffing import sachbearbeiter, tickets_url, topics  # noqa: F401 - the bot's sachbearbeiter
