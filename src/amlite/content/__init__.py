"""Content snapshots (content/v1.0 and v2.0): a project uploaded once, run many times."""
