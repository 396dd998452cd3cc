"""Local ClearML and Kubernetes API emulators with a simulated cluster, for demos and tests."""
