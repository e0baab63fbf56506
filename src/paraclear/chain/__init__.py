"""The chain: mempool, block builder and producer, storage, recovery, replay, snapshots.

One mechanism per module; import them directly (``paraclear.chain.core``,
``paraclear.chain.storage``, ...). This package file re-exports nothing.
"""
