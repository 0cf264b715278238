"""ctypes view of libzmoe: where the library is, the public structs of include/zmoe.h
mirrored field by field (checked against the library's own zmoe_sizeof at load), and the
prototypes of the calls the package makes. Nothing here computes; runtime.py and
fused.py use it."""

import ctypes
import ctypes.util
import os

from ._errors import Error, ZMOE_ERR_ARGUMENT

# enum zmoe_tensor (include/zmoe.h): the tensors of one layer in the kernel layout
TENSORS = ("router_w", "router_b", "score_bias", "w13", "b13", "w2", "b2",
           "shared_w13", "shared_w2", "shared_gate")
TENSOR_COUNT = len(TENSORS)
STAGES = ("router", "align", "expert_up", "expert_down", "combine")
DTYPES = ("f32", "f16", "bf16")  # enum zmoe_dtype order


class _Model(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in
                ("hidden", "intermediate", "experts", "top_k", "layers",
                 "shared_experts", "shared_intermediate")]


class _Router(ctypes.Structure):
    _fields_ = [("scoring", ctypes.c_int), ("renormalize", ctypes.c_bool),
                ("groups", ctypes.c_uint32), ("topk_group", ctypes.c_uint32),
                ("routed_scaling_factor", ctypes.c_float),
                ("score_correction_bias", ctypes.c_bool), ("bias", ctypes.c_bool),
                ("apply_router_weight_on_input", ctypes.c_bool),
                ("shared_expert_gate", ctypes.c_bool)]


class _Experts(ctypes.Structure):
    _fields_ = [("activation", ctypes.c_int), ("swiglu_alpha", ctypes.c_float),
                ("swiglu_limit", ctypes.c_float), ("bias", ctypes.c_bool),
                ("gate_up_interleaved", ctypes.c_bool)]


class _Dtype(ctypes.Structure):
    _fields_ = [("weights", ctypes.c_int), ("activations", ctypes.c_int)]


class _Quant(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("packing", ctypes.c_int),
                ("group_size", ctypes.c_uint32), ("zero_points", ctypes.c_bool),
                ("act_order", ctypes.c_bool), ("scale_dtype", ctypes.c_int),
                ("shared_experts", ctypes.c_bool)]


class _RuntimeCfg(ctypes.Structure):
    _fields_ = [("max_tokens", ctypes.c_uint32), ("ring_depth", ctypes.c_uint32),
                ("device", ctypes.c_int), ("wait_timeout_ms", ctypes.c_uint32),
                ("slot_io", ctypes.c_int)]


class _Budget(ctypes.Structure):
    _fields_ = [("device_bytes", ctypes.c_uint64), ("host_bytes", ctypes.c_uint64)]


class _Weights(ctypes.Structure):
    _fields_ = [("file", ctypes.c_char * 512), ("layout", ctypes.c_int),
                ("prefix", ctypes.c_char * 128), ("seed", ctypes.c_uint64)]


class _Parallel(ctypes.Structure):
    _fields_ = [("devices", ctypes.c_uint32), ("ranks", ctypes.c_uint32),
                ("expert_map_set", ctypes.c_bool), ("expert_map", ctypes.c_uint8 * 512)]


class Config(ctypes.Structure):
    """struct zmoe_config"""
    _fields_ = [("model", _Model), ("router", _Router), ("experts", _Experts),
                ("dtype", _Dtype), ("quant", _Quant), ("runtime", _RuntimeCfg), ("budget", _Budget),
                ("weights", _Weights), ("parallel", _Parallel)]


class LayerWeights(ctypes.Structure):
    """struct zmoe_layer_weights"""
    _fields_ = [("tensor", ctypes.c_void_p * TENSOR_COUNT)]


class CreateInfo(ctypes.Structure):
    """struct zmoe_create_info"""
    _fields_ = [("config", ctypes.POINTER(Config)), ("context", ctypes.c_void_p),
                ("device", ctypes.c_void_p), ("queue", ctypes.c_void_p),
                ("host_memory", ctypes.c_void_p), ("host_memory_bytes", ctypes.c_size_t),
                ("weights", ctypes.POINTER(LayerWeights)), ("ring_experts", ctypes.c_bool)]


class Slot(ctypes.Structure):
    """struct zmoe_slot"""
    _fields_ = [("index", ctypes.c_uint32), ("input_host", ctypes.c_void_p),
                ("output_host", ctypes.c_void_p), ("input_device", ctypes.c_void_p),
                ("output_device", ctypes.c_void_p), ("topk_ids_host", ctypes.c_void_p),
                ("topk_weights_host", ctypes.c_void_p), ("routing_ids_host", ctypes.c_void_p),
                ("routing_weights_host", ctypes.c_void_p)]


class Stats(ctypes.Structure):
    """struct zmoe_stats"""
    _fields_ = [("submits", ctypes.c_uint64), ("host_allocations_after_init", ctypes.c_uint64),
                ("device_allocations_after_init", ctypes.c_uint64),
                ("stage_device_ns", ctypes.c_uint64 * len(STAGES)),
                ("device_bytes", ctypes.c_uint64), ("host_bytes", ctypes.c_uint64),
                ("device_name", ctypes.c_char * 256), ("device_reason", ctypes.c_char * 256),
                ("weights_source", ctypes.c_char * 512), ("kernels_native", ctypes.c_bool),
                ("slot_io_direct", ctypes.c_bool), ("combine_fused", ctypes.c_bool),
                ("align_fused", ctypes.c_bool)]


class CError(ctypes.Structure):
    """struct zmoe_error"""
    _fields_ = [("msg", ctypes.c_char * 1024)]


_MIRRORED = {"zmoe_config": Config, "zmoe_create_info": CreateInfo, "zmoe_slot": Slot,
             "zmoe_stats": Stats, "zmoe_error": CError, "zmoe_layer_weights": LayerWeights}


def _candidates():
    """Where libzmoe may be, in order: $ZMOE_LIBRARY; the install's libdir (written into
    _install_paths.py by `meson install`); the build tree next to this source tree
    (python/../build); the dynamic linker's search path."""
    env = os.environ.get("ZMOE_LIBRARY")
    if env:
        yield env
        return
    try:
        from . import _install_paths  # only in an installed copy
        yield os.path.join(_install_paths.LIBDIR, "libzmoe.so")
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "..", "..", "build", "libzmoe.so")
    found = ctypes.util.find_library("zmoe")
    if found:
        yield found


_lib = None


def lib():
    """The loaded library with its prototypes (loaded on first use, so that importing
    zmoe and collecting tests works before anything is built)."""
    global _lib
    if _lib is not None:
        return _lib
    tried = []
    for path in _candidates():
        tried.append(path)
        if os.sep in path and not os.path.exists(path):
            continue
        try:
            handle = ctypes.CDLL(path)
        except OSError as e:
            tried[-1] += f" ({e})"
            continue
        _declare(handle)
        for name, cls in _MIRRORED.items():
            size = handle.zmoe_sizeof(name.encode())
            if size != ctypes.sizeof(cls):
                raise Error(ZMOE_ERR_ARGUMENT,
                            f"{path}: struct {name} is {size} bytes in the library and "
                            f"{ctypes.sizeof(cls)} in python/zmoe/_capi.py: the package and "
                            "the library are from different versions")
        _lib = handle
        return _lib
    raise Error(ZMOE_ERR_ARGUMENT, "cannot find libzmoe.so (tried: " + ", ".join(tried) +
                "); set ZMOE_LIBRARY=/path/to/libzmoe.so")


def _declare(h):
    P, S, V, U32, I = ctypes.POINTER, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int
    E = P(CError)
    protos = {
        "zmoe_sizeof": (S, [ctypes.c_char_p]),
        "zmoe_status_str": (ctypes.c_char_p, [I]),
        "zmoe_config_load": (I, [ctypes.c_char_p, P(Config), E]),
        "zmoe_config_parse": (I, [ctypes.c_char_p, S, ctypes.c_char_p, P(Config), E]),
        "zmoe_create": (I, [P(CreateInfo), P(V), E]),
        "zmoe_destroy": (None, [V]),
        "zmoe_load_weights": (I, [V, E]),
        "zmoe_upload_layer_weights": (I, [V, U32, P(LayerWeights), E]),
        "zmoe_set_layer_weights": (I, [V, U32, P(LayerWeights), E]),
        "zmoe_slot_acquire": (I, [V, P(Slot), E]),
        "zmoe_submit": (I, [V, P(Slot), U32, U32, E]),
        "zmoe_submit_experts": (I, [V, P(Slot), U32, U32, E]),
        "zmoe_wait": (I, [V, P(Slot), ctypes.c_uint64, E]),
        "zmoe_get_stats": (I, [V, P(Stats)]),
        "zmoe_plan_json": (I, [V, ctypes.c_char_p, S, P(S), E]),
        "zmoe_tensor_bytes": (ctypes.c_uint64, [P(Config), I]),
        "zmoe_tensor_present": (ctypes.c_bool, [P(Config), I]),
    }
    for name, (res, args) in protos.items():
        fn = getattr(h, name)
        fn.restype = res
        fn.argtypes = args
