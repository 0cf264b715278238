"""zmoe from Python: ctypes over libzmoe (no compiled extension).

  zmoe.fused_experts(...)   sgl-kernel's fused_experts on zmoe's experts-only call
  zmoe.Runtime(config)      one runtime: load_weights, forward, experts, plan, stats
  zmoe.Error                every failure: .status (enum zmoe_status), .message

The library is found through $ZMOE_LIBRARY, the install's libdir, the build tree next
to this source tree (build/libzmoe.so), or the dynamic linker's path."""

from ._errors import Error, STATUS_NAMES  # noqa: F401
from ._errors import (ZMOE_OK, ZMOE_ERR_ARGUMENT, ZMOE_ERR_CONFIG, ZMOE_ERR_IO,  # noqa: F401
                      ZMOE_ERR_STATE, ZMOE_ERR_WEIGHTS, ZMOE_ERR_LEVEL_ZERO, ZMOE_ERR_ROUTING,
                      ZMOE_ERR_DEVICE_LOST, ZMOE_TIMEOUT)
from .fused import cache_info, fused_experts, invalidate, runtimes  # noqa: F401
from .runtime import Runtime  # noqa: F401

__version__ = "0.1.0"
