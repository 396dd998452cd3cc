"""kubectl-clearml: a kubectl plugin for operating ClearML on Kubernetes."""

__version__ = "0.1.0"
