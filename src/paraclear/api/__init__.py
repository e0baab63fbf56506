"""The API of a node: JSON-RPC server, methods, views, subscriptions, dashboard.

``paraclear.api.node_api.node_api(node)`` builds a node's server; ``paraclear.api.app``
runs a node and its API in one process. This package file re-exports nothing.
"""
