"""Ray: what amlite ships with a run's Ray job (packages.py), the driver of multi-node runs that runs on
the cluster (launcher.py), and a local head for ``amlite serve --ray-local`` (head.py). The server side of
the backend is amlite/compute/backends/ray.py."""
