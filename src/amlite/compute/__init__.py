"""Execution: snapshots, environments, the scheduler, compute backends and the run agent."""
