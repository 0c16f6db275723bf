"""The ``amlite`` command: serve, and administration of the same store the server uses."""
