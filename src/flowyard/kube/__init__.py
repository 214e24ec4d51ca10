"""Flowyard resources rendered to Kubernetes manifests (Argo, KServe, Seldon) and checked.

Each builder module turns one Flowyard resource into plain dicts for one target object; the
`render` module picks builders per environment and `validate` checks the results against
the CRD schemas and the Kubernetes OpenAPI schemas. Nothing here talks to a cluster.
"""
