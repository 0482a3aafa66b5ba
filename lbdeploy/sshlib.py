"""paramiko, imported without loading invoke up front.

paramiko's ssh_config parser imports invoke (about 40 ms of every SSH command, measured
in the lab) for one feature: `Match exec`. Here a stand-in takes invoke's place before
paramiko is first imported, and imports the real invoke the first time one of its names
is used, so the cost is paid only by a config that has `Match exec`. Every lbdeploy
module imports paramiko from here.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types


class _OnFirstUse(types.ModuleType):
    """Stands in for a module until one of its names is used, then hands out the real ones."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_lock"] = threading.Lock()
        self.__dict__["_real"] = None

    def __getattr__(self, attr: str) -> object:
        if attr.startswith("__"):  # the import system's questions: answer as a plain module
            raise AttributeError(attr)
        with self.__dict__["_lock"]:
            if self.__dict__["_real"] is None:
                if sys.modules.get(self.__name__) is self:
                    del sys.modules[self.__name__]
                self.__dict__["_real"] = importlib.import_module(self.__name__)
        return getattr(self.__dict__["_real"], attr)


def _defer(name: str) -> None:
    if name not in sys.modules and importlib.util.find_spec(name) is not None:
        sys.modules[name] = _OnFirstUse(name)


_defer("invoke")

import paramiko  # noqa: E402

__all__ = ["paramiko"]
