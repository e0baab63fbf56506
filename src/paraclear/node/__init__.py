"""The node: signed envelopes, signature checks, mempool, block producer, storage, API.

One mechanism per module; import them directly (``paraclear.node.envelope``,
``paraclear.node.mempool``, ...). This package file re-exports nothing.
"""
