"""What serves a scoringUri: the front (one process: routing, key checks, balancing, the request log)
and the workers (one process per replica, in the service's environment, hosting its entry script)."""
