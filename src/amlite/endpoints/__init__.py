"""Scoring services (MMS ``/services``): deployments of registered models behind an entry script, served by
worker processes behind the scoring front, with key authentication; their asynchronous operations."""
