"""Microsoft.MachineLearningServices: workspaces, their compute clusters, and service discovery."""
