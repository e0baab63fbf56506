"""Simulation: price paths, workload generators, the crash scenario, and the agent market.

The agent market (``market``, ``agents``) drives a node through its API client as outside
traders would, so this package imports ``paraclear.node``; the node never imports it.
"""
