"""Real local infrastructure for `franz up`, the tests and developers: Kafka, etcd + kube-apiserver, helm.

Everything is obtained from package registries (Maven Central, the Go module proxy, PyPI) into a cache
outside the repository (`FRANZ_CACHE_DIR`, default `~/.cache/franz`) and reused on every later run.
"""
