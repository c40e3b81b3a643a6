"""Errors of the local infrastructure: each carries the log tail that explains it."""

from franz.exceptions import FranzError


class InfrastructureError(FranzError):
    """A local component (Kafka, etcd, kube-apiserver, a tool) could not be obtained or started."""


class BuildError(InfrastructureError):
    """Downloading or building a component failed; the message holds the tail of the build log."""


class StartError(InfrastructureError):
    """A component did not become ready; the message holds the tail of its log."""
