"""BPF helpers: the registry (id, name, prototype, implementation) and the implementations.

Importing this package registers every implemented helper in :data:`DEFAULT_HELPERS`.
"""

from pybpf.vm.helpers.registry import (
    DEFAULT_HELPERS, CallContext, HelperFunc, HelperRegistry, HelperSpec, ProgramExit, TailCall,
    describe_helper, helper,
)

__all__ = [
    "DEFAULT_HELPERS", "CallContext", "HelperFunc", "HelperRegistry", "HelperSpec",
    "ProgramExit", "TailCall", "describe_helper", "helper",
]

# Importing the implementations registers them in DEFAULT_HELPERS.
from pybpf.vm.helpers import core as _core, maps as _maps, net as _net, net_shape as _net_shape  # noqa: E402,F401,E501
from pybpf.vm.helpers import sockets as _sockets  # noqa: E402,F401
