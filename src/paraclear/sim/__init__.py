"""Simulation: seeded workloads of clearing transactions, price paths, agents."""
