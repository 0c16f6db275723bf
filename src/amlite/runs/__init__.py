"""Run history (history/v1.0, metric/v2.0): experiments, runs, events, metrics and logs."""
