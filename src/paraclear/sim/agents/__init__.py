"""The agent market's traders, each an account acting through the node's API client.

* ``base``: an agent's connection, nonces, fired requests and answers;
* ``oracle``: the index path, the vol regime and its SVI surface, the oracle agent;
* ``maker``: market makers quoting the chain and the perpetual from their Greeks;
* ``takers``: directional traders and vol traders;
* ``keeper``: liquidators (liquidation, auto-deleveraging, backstop).

``paraclear.sim.market`` runs them against a node.
"""
