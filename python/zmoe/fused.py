"""zmoe.fused_experts: sgl-kernel's fused_experts signature on zmoe's experts-only call.

One zmoe runtime per geometry (hidden, intermediate, experts, top_k, dtypes, activation,
biases, where the router weight is applied), created on the first call that needs it and
reused. Each distinct weight set (w13, w2, b1, b2) gets one layer of that runtime and is
uploaded once (zmoe_upload_layer_weights); later calls with the same objects only write
x and the routing into a ring slot and run the pre-recorded experts-only list.

The cache key is the objects' identity and, for torch tensors, their version counter
(`tensor._version`, bumped by every in-place change), so modifying a torch weight in
place makes the next call upload it again. numpy arrays have no version: one modified
in place must be passed to zmoe.invalidate(array) (or zmoe.invalidate() to drop every
cached weight set). A runtime holds ZMOE_WEIGHT_SETS weight sets (environment, default
16); past that the least recently used set's layer is reused (uploaded again when it
comes back). Tokens per device call: ZMOE_MAX_TOKENS (default 64); more are chunked."""

import os
import weakref

import numpy as np

from . import _arrays
from .runtime import Runtime

_ACTIVATIONS = {"silu": "silu", "gelu": "gelu", "gelu_tanh": "gelu_tanh",
                "swiglu_oai": "swiglu_oai", "swiglu": "swiglu_oai"}

_runtimes = {}  # geometry key -> _Geometry


def _env_int(name, default):
    value = os.environ.get(name, "")
    try:
        n = int(value) if value else default
    except ValueError:
        n = 0
    if n < 1:
        _arrays.fail("zmoe.fused_experts", f"{name}={value!r} must be a positive integer")
    return n


class _WeightSet:
    """One uploaded weight set: which layer holds it and what it was uploaded from."""

    def __init__(self, layer, objects):
        self.layer = layer
        self.refs = [weakref.ref(o) if o is not None else None for o in objects]
        self.versions = [_version(o) for o in objects]

    def matches(self, objects):
        for ref, v, o in zip(self.refs, self.versions, objects):
            if (ref is None) != (o is None):
                return False
            if o is not None and (ref() is not o or _version(o) != v):
                return False
        return True


def _version(a):
    return a._version if _arrays.is_torch(a) else None


class _Geometry:
    """The runtime of one geometry and the weight sets uploaded into its layers."""

    def __init__(self, config, sets):
        self.runtime = Runtime(config, ring_experts=True)
        self.capacity = sets
        self.by_key = {}  # tuple of ids -> _WeightSet
        self.lru = []     # keys, least recently used first
        self.uploads = 0  # weight sets uploaded (cache misses)

    def layer_for(self, objects, upload):
        key = tuple(id(o) if o is not None else None for o in objects)
        ws = self.by_key.get(key)
        if ws is not None and ws.matches(objects):
            self.lru.remove(key)
            self.lru.append(key)
            return ws.layer
        if ws is not None:  # a new version, or a new object under a recycled id
            layer = ws.layer
            self.lru.remove(key)
        elif len(self.by_key) < self.capacity:
            layer = len(self.by_key)
        else:
            old = self.lru.pop(0)
            layer = self.by_key.pop(old).layer
        self.by_key.pop(key, None)
        upload(self.runtime, layer)
        self.uploads += 1
        self.by_key[key] = _WeightSet(layer, objects)
        self.lru.append(key)
        return layer

    def forget(self, obj):
        for key in [k for k in self.by_key if id(obj) in k]:
            del self.by_key[key]
            self.lru.remove(key)


def invalidate(array=None):
    """Forget the cached upload of every weight set that contains `array` (all of them
    when None): the next fused_experts call uploads it again. Needed for numpy weights
    changed in place (torch tensors are tracked by their version counter)."""
    for g in _runtimes.values():
        if array is None:
            g.by_key.clear()
            g.lru.clear()
        else:
            g.forget(array)


def cache_info():
    """{"runtimes": geometries with a runtime, "weight_sets": cached uploads,
    "uploads": uploads made so far (each a cache miss)}."""
    return {"runtimes": len(_runtimes),
            "weight_sets": sum(len(g.by_key) for g in _runtimes.values()),
            "uploads": sum(g.uploads for g in _runtimes.values())}


def runtimes():
    """The runtime of every geometry created so far (for .stats() and .plan())."""
    return [g.runtime for g in _runtimes.values()]


def fused_experts(hidden_states, w13, w2, topk_weights, topk_ids, *, b1=None, b2=None,
                  activation="silu", apply_router_weight_on_input=False, gemm1_alpha=None,
                  gemm1_limit=None):
    """sgl-kernel's fused_experts, out of place, on zmoe.

    hidden_states [T, H] float32/float16/bfloat16 (the activation dtype of the call);
    w13 [E, 2I, H], gate rows [0, I) then up rows [I, 2I); w2 [E, H, I]; both the same
    float dtype (the weights dtype). topk_weights [T, K] float, topk_ids [T, K] integer
    (0 <= id < E; a bad id raises zmoe.Error with status ZMOE_ERR_ROUTING). b1 [E, 2I],
    b2 [E, H]: expert biases (both or neither). activation: "silu" (silu(gate) * up),
    "gelu" (erf), "gelu_tanh"; "silu" with gemm1_alpha and gemm1_limit is GPT-OSS's
    clamped swiglu: g = min(g, limit), u = clamp(u, -limit, limit), g*sigmoid(alpha*g)*(u+1)
    (also spelled "swiglu_oai"). apply_router_weight_on_input: each routed copy of x[t]
    is scaled by its own weight before the experts and combined with weight 1 (Hugging
    Face Llama 4 semantics, for any K); otherwise y[t] = sum_k w[t,k] * expert(x[t]).
    Returns a new array of hidden_states' kind, dtype and shape."""
    fn = "zmoe.fused_experts"
    act_dtype = _arrays.float_dtype(fn, "hidden_states", hidden_states)
    w_dtype = _arrays.float_dtype(fn, "w13", w13)
    if _arrays.float_dtype(fn, "w2", w2) != w_dtype:
        _arrays.fail(fn, f"w13 is {w13.dtype} and w2 is {w2.dtype}; both must have one dtype")
    if len(hidden_states.shape) != 2:
        _arrays.fail(fn, f"hidden_states has shape {list(hidden_states.shape)}; expected [T, H]")
    T, H = hidden_states.shape
    if len(w13.shape) != 3 or w13.shape[2] != H or w13.shape[1] % 2:
        _arrays.fail(fn, f"w13 has shape {list(w13.shape)}; expected [E, 2I, {H}] (gate rows then "
                         "up rows, H = hidden_states.shape[1])")
    E, I = w13.shape[0], w13.shape[1] // 2
    _arrays.check_shape(fn, "w2", w2, (E, H, I))
    if len(topk_ids.shape) != 2 or topk_ids.shape[0] != T:
        _arrays.fail(fn, f"topk_ids has shape {list(topk_ids.shape)}; expected [{T}, K]")
    K = topk_ids.shape[1]
    _arrays.check_int(fn, "topk_ids", topk_ids)
    _arrays.check_floating(fn, "topk_weights", topk_weights)
    _arrays.check_shape(fn, "topk_weights", topk_weights, (T, K))
    if not 1 <= K <= E:
        _arrays.fail(fn, f"top_k {K} must be 1..{E} (the experts of w13)")
    if (b1 is None) != (b2 is None):
        _arrays.fail(fn, "b1 and b2 are given together or not at all")
    if b1 is not None:
        _arrays.check_floating(fn, "b1", b1)
        _arrays.check_floating(fn, "b2", b2)
        _arrays.check_shape(fn, "b1", b1, (E, 2 * I))
        _arrays.check_shape(fn, "b2", b2, (E, H))
    if activation not in _ACTIVATIONS:
        _arrays.fail(fn, f"activation {activation!r} is not one of {sorted(_ACTIVATIONS)}")
    act = _ACTIVATIONS[activation]
    if (gemm1_alpha is None) != (gemm1_limit is None):
        _arrays.fail(fn, "gemm1_alpha and gemm1_limit are given together (GPT-OSS) or not at all")
    if gemm1_alpha is not None:
        if act != "silu" and act != "swiglu_oai":
            _arrays.fail(fn, f"gemm1_alpha/gemm1_limit apply to the silu family, not {activation!r}")
        act = "swiglu_oai"
    elif act == "swiglu_oai":
        _arrays.fail(fn, f"activation {activation!r} needs gemm1_alpha and gemm1_limit")
    if T == 0:
        return _arrays.new_like(hidden_states, act_dtype, (0, H))[1]

    sets = _env_int("ZMOE_WEIGHT_SETS", 16)
    max_tokens = _env_int("ZMOE_MAX_TOKENS", 64)
    alpha = float(gemm1_alpha) if gemm1_alpha is not None else None
    limit = float(gemm1_limit) if gemm1_limit is not None else None
    key = (H, I, E, K, w_dtype, act_dtype, act, alpha, limit, b1 is not None,
           bool(apply_router_weight_on_input), sets, max_tokens)
    g = _runtimes.get(key)
    if g is None:
        experts = {"activation": act, "bias": b1 is not None}
        if act == "swiglu_oai":
            experts.update(swiglu_alpha=repr(alpha), swiglu_limit=repr(limit))
        config = {
            "model": {"hidden": H, "intermediate": I, "experts": E, "top_k": K, "layers": sets},
            # the router is not used by the experts-only call; the config needs one
            "router": {"scoring": "softmax",
                       "apply_router_weight_on_input": bool(apply_router_weight_on_input)},
            "experts": experts,
            "dtype": {"weights": w_dtype, "activations": act_dtype},
            "runtime": {"max_tokens": max_tokens, "ring_depth": 1},
        }
        g = _Geometry(config, sets)
        _runtimes[key] = g

    def upload(rt, layer):
        tensors = {"router_w": np.zeros((E, H), dtype=_arrays.NUMPY_OF[w_dtype]),
                   "w13": _arrays.as_numpy(w13), "w2": _arrays.as_numpy(w2)}
        if b1 is not None:
            tensors["b13"] = _arrays.as_float32(b1)
            tensors["b2"] = _arrays.as_float32(b2)
        rt.upload_layer(layer, tensors)

    layer = g.layer_for((w13, w2, b1, b2), upload)
    return g.runtime.experts(hidden_states, topk_ids, topk_weights, layer)
