"""The one base for every error Franz raises on purpose, so callers can tell ours from the libraries'."""


class FranzError(Exception):
    """Base of all Franz errors; the message says what to do about it."""


class ConfigError(FranzError):
    """A setting is missing or invalid; the message names the environment variable."""
