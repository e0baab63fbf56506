"""Simulation: price paths, workload generators, the crash scenario, and the agent market.

The agent market (``market``, ``agents``) drives a node through its API client as outside
traders would: the agents import only ``paraclear.client``; the driver (``market``,
``compare``) runs a node (``paraclear.chain``, ``paraclear.api``), which never imports this
package.
"""
