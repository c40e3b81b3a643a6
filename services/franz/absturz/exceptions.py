"""Errors of absturz's webhook edge."""

from franz.runtime.exceptions import DeliveryError


class WebhookGone(DeliveryError):
    """401, 403 or 404: the webhook was deleted or its token revoked. Posting stops until it is fixed."""


class WebhookRejected(DeliveryError):
    """400: Discord refused the payload itself; sending it again cannot help."""


class WebhookUnavailable(DeliveryError):
    """Discord kept failing (5xx, timeouts) for the whole retry budget; the batch is retried later."""


class Stopping(DeliveryError):
    """Shutdown was requested while waiting on Discord; the batch stays uncommitted."""
