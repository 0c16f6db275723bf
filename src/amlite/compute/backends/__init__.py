"""Compute backends: they only start, watch and stop a run's agent; admission is the scheduler's."""
