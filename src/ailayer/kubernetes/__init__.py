"""Kubernetes manifests for each role of ailayer, from a values file (docs/deploy.md).

``values.py`` is the values file's shape, checked by a pydantic model; ``manifests.py``
builds the manifests from it as plain dicts. No Helm binary and no cluster are needed:
``ailayer manifests render`` writes them as YAML for ``kubectl apply``.
"""
