"""The local broker's cluster id: the format Kafka expects, and never mistaken for a command-line option."""

from __future__ import annotations

import base64

from franz.devstack.kafka import _cluster_id


def test_cluster_ids_are_kafka_uuids_that_never_start_with_a_dash() -> None:
    ids = [_cluster_id() for _ in range(2_000)]  # one in 64 random ids starts with "-"
    assert not [cluster_id for cluster_id in ids if cluster_id.startswith("-")]
    assert all(len(base64.urlsafe_b64decode(cluster_id + "==")) == 16 for cluster_id in ids)
    assert len(set(ids)) == len(ids)
