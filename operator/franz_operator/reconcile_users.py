"""The API half of a secured pipeline: apply each service's KafkaUser, wait for Strimzi's User Operator,
and project the credentials into each service's own Secret, so no service can use another's identity."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from franz_operator import access, acls, users
from franz_operator.builders import Condition
from franz_operator.exceptions import KubeError
from franz_operator.kube import KAFKA_USER, SECRET, Kube
from franz_operator.pipeline import Pipeline
from franz_operator.users import UserState


@dataclass(slots=True)
class AccessResult:
    condition: Condition
    users: list[UserState]
    changes: list[str] = field(default_factory=list)
    # Every service Secret's data: it enters the rollout hash, so rotated credentials roll the services.
    secret_data: dict[str, str] = field(default_factory=dict)


def reconcile_access(kube: Kube, pipeline: Pipeline) -> AccessResult | None:
    """None for a pipeline that declares no Kafka security; else the `KafkaAccessReady` condition."""
    declared = pipeline.access
    if not declared.secured:
        return None
    result = AccessResult(Condition.of("KafkaAccessReady", True, "Ready", ""), users=[])
    problems: list[str] = []
    shared, missing = _declared_values(kube, pipeline)
    problems += missing
    for service in acls.SERVICES:
        data = dict(shared)
        if declared.create_users:
            state, credentials = _user(kube, pipeline, service, result.changes)
            result.users.append(state)
            if not state.ready:
                problems.append(f"KafkaUser {state.name}: {state.message}")
                continue
            data.update(credentials)
            data[access.USERNAME_KEY] = _base64(users.user_name(pipeline, service))
        elif declared.username is not None:
            data[access.USERNAME_KEY] = _base64(declared.username)
        if missing:
            continue  # the service keeps its last good Secret
        secret = users.service_secret(pipeline, service, data)
        try:
            applied = kube.apply(secret)
        except KubeError as error:
            problems.append(str(error))
            continue
        if applied != "unchanged":
            result.changes.append(f"{applied} Secret {users.service_secret_name(pipeline, service)}")
        result.secret_data.update({f"{service}/{key}": value for key, value in data.items()})
    if problems:
        reason = "WaitingForUsers" if not missing and declared.create_users else "SecretMissing"
        result.condition = Condition.of("KafkaAccessReady", False, reason, "; ".join(problems))
    else:
        kinds = "its own KafkaUser" if declared.create_users else "the declared credentials"
        message = f"{len(acls.SERVICES)} services have {kinds} in franz-{pipeline.name}-<service>-kafka"
        result.condition = Condition.of("KafkaAccessReady", True, "Ready", message)
    return result


def _declared_values(kube: Kube, pipeline: Pipeline) -> tuple[dict[str, str], list[str]]:
    """The service-Secret values the spec declares (base64), and one line per source that cannot be read."""
    values: dict[str, str] = {}
    missing: list[str] = []
    for key, sources in access.declared_sources(pipeline.access).items():
        parts = []
        for source in sources:
            found = _secret_value(kube, pipeline.namespace, source.secret, source.key)
            if isinstance(found, str):
                missing.append(found)
            else:
                parts.append(found)
        if len(parts) == len(sources):
            values[key] = base64.b64encode(b"\n".join(part.rstrip(b"\n") for part in parts) + b"\n").decode()
    return values, missing


def _secret_value(kube: Kube, namespace: str, name: str, key: str) -> bytes | str:
    """The decoded value, or a line saying why there is none."""
    where = f"Secret {namespace}/{name}"
    try:
        found = kube.get(SECRET, namespace, name)
    except KubeError as error:
        return f"cannot read {where}: {error}"
    if found is None:
        return f"{where} does not exist"
    encoded = (found.get("data") or {}).get(key)
    if encoded is None:
        return f"{where} has no key {key!r}"
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        return f"{where}: the value under {key!r} is not base64"


def _user(
    kube: Kube, pipeline: Pipeline, service: str, changes: list[str]
) -> tuple[UserState, dict[str, str]]:
    """Apply the service's KafkaUser; once the User Operator made it, the credentials of its Secret."""
    desired = users.kafka_user(pipeline, service)
    name, namespace = desired["metadata"]["name"], pipeline.strimzi_namespace
    try:
        current = kube.get(KAFKA_USER, namespace, name)
        applied = kube.write_if_changed(current, desired)
    except KubeError as error:
        if error.status == 404:
            message = (
                f"the API server has no KafkaUser resource ({KAFKA_USER.group}/{KAFKA_USER.version}) in "
                f"namespace {namespace}: install Strimzi 0.49 or later with its User Operator"
            )
            return UserState(service, name, False, message), {}
        return UserState(service, name, False, str(error)), {}
    if applied != "unchanged":
        changes.append(f"{applied} KafkaUser {namespace}/{name}")
        return UserState(service, name, False, users.WAITING_FOR_USER_OPERATOR), {}
    assert current is not None  # unchanged means it was there
    ready, message = users.user_ready(current)
    if not ready:
        return UserState(service, name, False, message), {}
    secret_name = (current.get("status") or {}).get("secret") or name
    credentials: dict[str, str] = {}
    for key in users.user_credentials_keys(pipeline.access.authentication):
        found = _secret_value(kube, namespace, secret_name, key)
        if isinstance(found, str):
            return UserState(service, name, False, f"the User Operator's {found}"), {}
        credentials[key] = base64.b64encode(found).decode()
    return UserState(service, name, True), credentials


def _base64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()
