"""What the engines with learned weights share: the model registry they load through."""

from __future__ import annotations


class RegistryEngine:
    """An engine whose networks come from the model registry (the process's own unless one is given).

    Tests and benchmarks give their own registry (a temporary checkpoints folder);
    the app uses the shared one, looked up only when first needed.
    """

    def __init__(self, registry=None, batch_size: int = 1) -> None:
        self._registry = registry
        self.batch_size = batch_size

    @property
    def registry(self):
        if self._registry is None:
            from avatar.models.registry import get_registry

            self._registry = get_registry()
        return self._registry
