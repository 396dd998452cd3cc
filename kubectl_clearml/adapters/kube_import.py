"""Import the parts of the official Kubernetes client we use, not the whole package.

``import kubernetes`` runs the package's ``__init__``, which imports its config loaders, dynamic client,
watch, stream, informers and, before the 36 generation, every API class and every model (~470 ms of a
command's ~0.7 s on the 35 client). We use the ApiClient, its Configuration, the kubeconfig/in-cluster
loaders and the exception class. So the packages ``kubernetes`` and ``kubernetes.client`` are created from
their real specs with their ``__init__`` deferred: the submodules we name are imported directly, and the
first attribute the package does not have yet (``client.CoreV1Api``, ``kubernetes.__version__``, a test using
the typed APIs) runs the real ``__init__`` then, so every other user of the package sees all of it.
``kubernetes.client.models`` is deferred the same way (the ApiClient only needs it to build typed models).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_LOCK = threading.RLock()
_DEFERRED = ("kubernetes", "kubernetes.client", "kubernetes.client.models")


class _DeferredPackage(types.ModuleType):
    """A package whose ``__init__`` runs on the first lookup of a name it does not have yet."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name not in ("__version__", "__all__"):
            raise AttributeError(name)
        if importlib.util.find_spec(f"{self.__name__}.{name}") is not None:
            return importlib.import_module(f"{self.__name__}.{name}")  # a submodule: ``from pkg import rest``
        _run_init(self)
        if isinstance(self, _DeferredPackage):  # no loader to run: nothing more to find
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        return getattr(self, name)  # a plain module now: its own lazy __getattr__ (36+) applies


def _run_init(module: types.ModuleType) -> None:
    with _LOCK:
        spec = module.__spec__
        if module.__dict__.get("_kubectl_clearml_deferred") is not True or spec is None or spec.loader is None:
            return
        module.__dict__["_kubectl_clearml_deferred"] = False
        module.__class__ = types.ModuleType
        spec.loader.exec_module(module)


def _defer(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"No module named {name!r}")
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _DeferredPackage
    module.__dict__["_kubectl_clearml_deferred"] = True
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def client_parts() -> tuple[Any, Any, Any]:
    """(ApiClient class, Configuration class, the ``kubernetes.config`` module), importing only those."""
    with _LOCK:
        for name in _DEFERRED:
            _defer(name)
        client = sys.modules["kubernetes.client"]
        configuration = importlib.import_module("kubernetes.client.configuration")
        api_client = importlib.import_module("kubernetes.client.api_client")
        # The loaders do `from kubernetes.client import ApiClient, Configuration`: give the deferred package both.
        client.__dict__.setdefault("Configuration", configuration.Configuration)
        client.__dict__.setdefault("ApiClient", api_client.ApiClient)
        config = importlib.import_module("kubernetes.config")
    return api_client.ApiClient, configuration.Configuration, config

