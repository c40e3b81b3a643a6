"""A client of sachbearbeiter's read API (`GET /tickets…` on its metrics port), for the CLI and the bot.

Each sachbearbeiter instance answers for the partitions it owns and says 421 for the others, so the
client takes every instance's URL (comma-separated) and asks them in turn; with one instance it is one
request. A plain-HTTP URL's host is resolved to every address it has, so one URL of a headless Service
(`http://sachbearbeiter-headless:9104`) reaches every replica. Every call is bounded by a timeout; an
instance that cannot be reached is skipped while another answers, and named when none does.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import requests

from franz.contracts import TicketEvent, TicketState
from franz.exceptions import ConfigError, FranzError

# The URL and environment variable the CLI and the bot find the API by; `franz up` serves it there.
ENV_VAR: Final = "TICKETS_API_URL"
LOCAL_URL: Final = "http://127.0.0.1:9104"
MISDIRECTED: Final = 421  # another instance serves the partition
RESTORING: Final = 503  # this instance is restoring the partition


class TicketsApiError(FranzError):
    """The read API could not answer: no instance reachable, or one answered with an error."""


def parse_urls(value: str) -> tuple[str, ...]:
    urls = tuple(url.strip().rstrip("/") for url in value.split(",") if url.strip())
    if not urls or not all(url.startswith(("http://", "https://")) for url in urls):
        raise ConfigError(f"{ENV_VAR} must be http(s) URLs separated by commas, not {value[:80]!r}")
    return urls


def instances(url: str) -> list[str]:
    """The URL once per address of its host (IPv4 where there is any); HTTPS URLs as they are, so their
    certificate is checked against the name."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        return [url]
    port = parts.port or 80
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            found = socket.getaddrinfo(parts.hostname, port, family, socket.SOCK_STREAM)
        except socket.gaierror:
            continue
        addresses = sorted({str(info[4][0]) for info in found})
        host = "{}" if family == socket.AF_INET else "[{}]"
        return [f"http://{host.format(address)}:{port}{parts.path}" for address in addresses]
    return [url]  # unresolvable: the request names the URL


class TicketsApi:
    def __init__(self, urls: Sequence[str], *, timeout: float = 5.0) -> None:
        self.urls = tuple(urls)
        self.timeout = timeout
        self._session = requests.Session()

    def ticket(self, ticket_id: str) -> TicketState | None:
        """The ticket's current state; None when it does not exist."""
        found: TicketState | None = self._owner(f"/tickets/{ticket_id}")
        return found

    def history(self, ticket_id: str) -> list[TicketEvent] | None:
        """The ticket's events, oldest first, all pages; None when there are none."""
        events: list[TicketEvent] = []
        path: str | None = f"/tickets/{ticket_id}/history"
        while path is not None:
            page = self._owner(path)
            if page is None:
                return events or None
            events.extend(page["events"])
            path = f"/tickets/{ticket_id}/history?cursor={page['next']}" if page["next"] else None
        return events

    def tickets(
        self, *, status: str | None = None, page_size: int = 500, **filters: str | None
    ) -> Iterator[TicketState]:
        """Every instance's tickets, page by page (one page in memory at a time), once the instances
        together serve every partition: a listing is never silently missing one. `filters` are the
        API's (`category`, `submitter`, `assignee`)."""
        instances = self._covering()
        for url in instances:
            params: dict[str, Any] = {"limit": page_size}
            if status is not None:
                params["status"] = status
            params |= {name: value for name, value in filters.items() if value is not None}
            while True:
                page = self._json(self._get(url, "/tickets", params))
                yield from page["tickets"]
                if page["next"] is None:
                    break
                params["cursor"] = page["next"]

    def _covering(self) -> list[str]:
        """The instances, once between them they serve every partition (asked again for up to the
        timeout while a rebalance moves partitions)."""
        deadline = time.monotonic() + self.timeout
        instances = self._instances()
        while True:
            served: set[int] = set()
            count = 0
            for url in instances:
                first = self._json(self._get(url, "/tickets", {"limit": 1}))
                served.update(first["partitions"])
                count = first["partition_count"]
            missing = set(range(count)) - served
            if not missing:
                return instances
            if time.monotonic() > deadline:
                raise TicketsApiError(
                    f"no instance of {', '.join(self.urls)} serves partitions {sorted(missing)}; list every "
                    f"sachbearbeiter instance in {ENV_VAR} (or --api), or ask again after a rebalance"
                )
            time.sleep(0.2)

    def _owner(self, path: str) -> Any:
        """The answer of the instance that serves this ticket's partition; None for a 404. While no
        instance serves it (a rebalance moves it, or it is being restored: 421s and 503s) it is asked
        again, for up to the timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            unreachable: list[str] = []
            for url in self._instances():
                try:
                    response = self._get(url, path, None)
                except TicketsApiError as error:
                    unreachable.append(str(error))
                    continue
                if response.status_code in (MISDIRECTED, RESTORING):
                    continue
                if response.status_code == 404:
                    return None
                return self._json(response)
            if unreachable:
                raise TicketsApiError(unreachable[0])
            if time.monotonic() > deadline:
                raise TicketsApiError(
                    f"none of {', '.join(self.urls)} serves this ticket's partition now; list every "
                    f"sachbearbeiter instance in {ENV_VAR} (or --api), or ask again after a rebalance"
                )
            time.sleep(0.2)

    def _instances(self) -> list[str]:
        return [instance for url in self.urls for instance in instances(url)]

    def _get(self, url: str, path: str, params: dict[str, Any] | None) -> requests.Response:
        try:
            return self._session.get(url + path, params=params, timeout=self.timeout)
        except requests.RequestException as error:
            raise TicketsApiError(
                f"sachbearbeiter's read API at {url} did not answer ({type(error).__name__}); "
                f"check {ENV_VAR} (or --api), or read the topics with --from-log"
            ) from None

    @staticmethod
    def _json(response: requests.Response) -> Any:
        if response.status_code != 200:
            try:
                message = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise TicketsApiError(f"{response.url} answered {response.status_code}: {message}")
        return response.json()

    def close(self) -> None:
        self._session.close()
