"""The Kubernetes edge: every API call the operator makes goes through `Kube`, with plain dicts in and out.

One generic request path (rather than the client's per-kind methods) keeps idempotence in one place:
`apply` reads first and writes only a difference, with server-side apply under the operator's field manager.
A difference is also a field the operator applied before and no longer wants (a config key or a secret
reference removed from the spec): applying without it is what removes it from the object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import kubernetes
from kubernetes.client import ApiClient
from urllib3.exceptions import HTTPError

from franz.exceptions import ConfigError
from franz_operator.constants import (
    FIELD_MANAGER,
    GROUP,
    PLURAL,
    STRIMZI_GROUP,
    STRIMZI_TOPIC_PLURAL,
    STRIMZI_USER_PLURAL,
    STRIMZI_VERSION,
    VERSION,
)
from franz_operator.exceptions import KubeError

Object = dict[str, Any]
Applied = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class Kind:
    group: str  # "" for the core API
    version: str
    plural: str

    def path(self, namespace: str | None, name: str | None = None) -> str:
        """The REST path; no namespace means across every namespace (lists only)."""
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        path = f"{base}/namespaces/{namespace}/{self.plural}" if namespace else f"{base}/{self.plural}"
        return f"{path}/{name}" if name else path


CONFIG_MAP: Final = Kind("", "v1", "configmaps")
SECRET: Final = Kind("", "v1", "secrets")
DEPLOYMENT: Final = Kind("apps", "v1", "deployments")
STATEFUL_SET: Final = Kind("apps", "v1", "statefulsets")
KAFKA_TOPIC: Final = Kind(STRIMZI_GROUP, STRIMZI_VERSION, STRIMZI_TOPIC_PLURAL)
KAFKA_USER: Final = Kind(STRIMZI_GROUP, STRIMZI_VERSION, STRIMZI_USER_PLURAL)
PIPELINE: Final = Kind(GROUP, VERSION, PLURAL)
KINDS_BY_API_KIND: Final = {
    "ConfigMap": CONFIG_MAP,
    "Secret": SECRET,
    "KafkaTopic": KAFKA_TOPIC,
    "KafkaUser": KAFKA_USER,
}

REQUEST_TIMEOUT_SECONDS: Final = 15.0


def load_client() -> ApiClient:
    """In a pod: its ServiceAccount. Elsewhere: the current kubeconfig context (`KUBECONFIG`)."""
    try:
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        try:
            kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
        except (kubernetes.config.ConfigException, OSError) as error:
            raise ConfigError(
                f"no Kubernetes credentials ({error}): set KUBECONFIG, or run in a pod with a ServiceAccount"
            ) from error
    return ApiClient()


class Kube:
    def __init__(self, client: ApiClient) -> None:
        self._client = client

    def get(self, kind: Kind, namespace: str, name: str) -> Object | None:
        """The object, or None when it does not exist."""
        try:
            return self._request("GET", kind.path(namespace, name))
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    def list_objects(self, kind: Kind, namespace: str | None, *, label_selector: str = "") -> list[Object]:
        query = [("labelSelector", label_selector)] if label_selector else []
        found = self._request("GET", kind.path(namespace), query=query)
        items: list[Object] = found.get("items") or []
        return items

    def apply(self, desired: Object) -> Applied:
        """Make the object hold `desired`; a read first, so an unchanged object costs no write."""
        metadata = desired["metadata"]
        kind = KINDS_BY_API_KIND[desired["kind"]]
        current = self.get(kind, metadata["namespace"], metadata["name"])
        return self.write_if_changed(current, desired)

    def write_if_changed(self, current: Object | None, desired: Object) -> Applied:
        """`apply` for a caller that has just read the object itself."""
        metadata = desired["metadata"]
        kind = KINDS_BY_API_KIND[desired["kind"]]
        if current is not None and _contains(current, desired) and not _stale_fields(current, desired):
            return "unchanged"
        self._request(
            "PATCH",
            kind.path(metadata["namespace"], metadata["name"]),
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=desired,
            content_type="application/apply-patch+yaml",
        )
        return "created" if current is None else "updated"

    def create(self, kind: Kind, namespace: str, body: Object) -> None:
        self._request("POST", kind.path(namespace), body=body)

    def delete(self, kind: Kind, namespace: str, name: str) -> bool:
        """Delete the object; False when it was already gone."""
        try:
            self._request("DELETE", kind.path(namespace, name))
        except KubeError as error:
            if error.status == 404:
                return False
            raise
        return True

    def merge_patch(
        self, kind: Kind, namespace: str, name: str, patch: Object, *, status: bool = False
    ) -> None:
        path = kind.path(namespace, name) + ("/status" if status else "")
        self._request("PATCH", path, body=patch, content_type="application/merge-patch+json")

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Object | None = None,
        content_type: str = "application/json",
    ) -> Object:
        serialized = self._client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        _, url, headers, payload, _ = serialized
        try:
            response = self._client.call_api(
                method, url, header_params=headers, body=payload, _request_timeout=REQUEST_TIMEOUT_SECONDS
            )
            response.read()  # type: ignore[no-untyped-call]
        except HTTPError as error:
            raise KubeError(0, f"{method} {path}: the API server did not answer: {error}") from error
        if response.status >= 400:
            raise KubeError(response.status, f"{method} {path}: {_api_message(response.data)}")
        parsed: Object = json.loads(response.data) if response.data else {}
        return parsed


def _contains(actual: Any, desired: Any) -> bool:
    """Whether `actual` already holds everything `desired` says (the server may add more)."""
    if isinstance(desired, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and _contains(actual[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(desired)
            and all(_contains(a, d) for a, d in zip(actual, desired, strict=True))
        )
    return bool(actual == desired)


def _stale_fields(current: Object, desired: Object) -> bool:
    """Whether the object holds a field our earlier applies set that `desired` no longer has."""
    for entry in (current.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply":
            return _owned_beyond(entry.get("fieldsV1") or {}, desired)
    return False


def _owned_beyond(fields: Mapping[str, Any], desired: Any) -> bool:
    """Walks a managedFields set (`f:<name>` per map key); list items (`k:`, `v:`, `i:`) are compared whole
    by `_contains`, so only map keys can be left over."""
    for key, below in fields.items():
        if not key.startswith("f:"):
            continue
        name = key[2:]
        if not isinstance(desired, Mapping) or name not in desired or _owned_beyond(below, desired[name]):
            return True
    return False


def _api_message(data: bytes | None) -> str:
    """The API server's own message (a Status object), which says what is wrong better than we could."""
    try:
        status = json.loads(data or b"{}")
    except ValueError:
        return (data or b"").decode(errors="replace")[:300]
    return str(status.get("message") or status.get("reason") or "no message")
