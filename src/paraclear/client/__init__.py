"""What a client of a node needs: signed envelopes, ``Client``/``AsyncClient``
(``paraclear.client.connection``), and checks of the node's proofs and blocks that trust
nothing but hashing. Depends on no node code: the sim's agents and the API both import it.
This package file re-exports nothing.
"""
