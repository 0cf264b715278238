"""zmoe.Runtime: one zmoe runtime (include/zmoe.h) from a config file or a dict, its
weights, its layer calls through the ring, its plan and its counters."""

import ctypes
import json
import os

import numpy as np

from . import _arrays
from . import _capi
from ._errors import Error, ZMOE_ERR_ARGUMENT, ZMOE_ERR_STATE

UINT64_MAX = (1 << 64) - 1


def _check(status, err, what=None):
    if status != 0:
        msg = err.msg.decode(errors="replace") if err is not None else ""
        raise Error(status, msg or what or "zmoe call failed")


def config_text(config):
    """The INI text of a config dict {section: {key: value}} (config/README.md keys;
    booleans as true/false)."""
    lines = []
    for section, keys in config.items():
        if not isinstance(keys, dict):
            raise Error(ZMOE_ERR_ARGUMENT, f"zmoe.Runtime: config section '{section}' must be a "
                                           f"dict of keys, not {type(keys).__name__}")
        lines.append(f"[{section}]")
        for key, value in keys.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


class Runtime:
    """A zmoe runtime: everything planned and allocated here, at construction.

    config: a config file path, or a dict {section: {key: value}} with the keys of
    config/README.md (e.g. {"model": {"hidden": 128, ...}, "router": {...}, ...}).
    ring_experts: also pre-record the experts-only call per slot and layer (experts()).
    Use as a context manager, or call close()."""

    def __init__(self, config, *, ring_experts=True):
        lib = _capi.lib()
        self._lib = lib
        self._handle = None
        self._cfg = _capi.Config()
        err = _capi.CError()
        if isinstance(config, dict):
            text = config_text(config).encode()
            st = lib.zmoe_config_parse(text, len(text), b"<dict>", ctypes.byref(self._cfg),
                                       ctypes.byref(err))
        elif isinstance(config, (str, os.PathLike)):
            st = lib.zmoe_config_load(os.fsencode(config), ctypes.byref(self._cfg),
                                      ctypes.byref(err))
        else:
            raise Error(ZMOE_ERR_ARGUMENT, "zmoe.Runtime: config must be a path or a dict, not "
                                           f"{type(config).__name__}")
        _check(st, err)
        info = _capi.CreateInfo(config=ctypes.pointer(self._cfg), ring_experts=ring_experts)
        handle = ctypes.c_void_p()
        _check(lib.zmoe_create(ctypes.byref(info), ctypes.byref(handle), ctypes.byref(err)), err)
        self._handle = handle
        c = self._cfg
        self.hidden = c.model.hidden
        self.intermediate = c.model.intermediate
        self.experts_count = c.model.experts
        self.top_k = c.model.top_k
        self.layers = c.model.layers
        self.max_tokens = c.runtime.max_tokens
        self.weights_dtype = _capi.DTYPES[c.dtype.weights]
        self.activations_dtype = _capi.DTYPES[c.dtype.activations]
        self._slot = _capi.Slot()
        self._views = {}  # slot index -> numpy views of its host-visible buffers
        self._err = err

    # ------------------------------------------------------------------ life

    def close(self):
        if self._handle is not None:
            self._lib.zmoe_destroy(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _rt(self, fn):
        if self._handle is None:
            raise Error(ZMOE_ERR_STATE, f"zmoe.Runtime.{fn}: the runtime is closed")
        return self._handle

    # --------------------------------------------------------------- weights

    def load_weights(self):
        """The config's weights (safetensors checkpoint or synthetic), once."""
        _check(self._lib.zmoe_load_weights(self._rt("load_weights"), ctypes.byref(self._err)),
               self._err)

    def tensor_bytes(self, name):
        """Bytes of one layer's tensor `name` ("w13", "w2", ...); 0 when absent."""
        return self._lib.zmoe_tensor_bytes(ctypes.byref(self._cfg), _capi.TENSORS.index(name))

    def tensor_present(self, name):
        return bool(self._lib.zmoe_tensor_present(ctypes.byref(self._cfg),
                                                  _capi.TENSORS.index(name)))

    def upload_layer(self, layer, tensors):
        """Copies one layer's weights from host arrays into zmoe's arena
        (zmoe_upload_layer_weights). tensors: {name: array} for every tensor the config
        has, in the kernel layout of include/zmoe.h (w13 [E, 2I, H] gate-then-up,
        w2 [E, H, I], ...): matrices in the config's weights dtype, biases float32."""
        fn = "zmoe.Runtime.upload_layer"
        unknown = set(tensors) - set(_capi.TENSORS)
        if unknown:
            _arrays.fail(fn, f"unknown tensor name(s) {sorted(unknown)}; known: {list(_capi.TENSORS)}")
        lw = _capi.LayerWeights()
        keep = []
        for i, name in enumerate(_capi.TENSORS):
            if name not in tensors or tensors[name] is None:
                continue
            values = _arrays.as_numpy(tensors[name])
            if values.nbytes != self.tensor_bytes(name):
                _arrays.fail(fn, f"tensor '{name}' has {values.nbytes} bytes; this config's "
                                 f"'{name}' has {self.tensor_bytes(name)}")
            keep.append(values)
            lw.tensor[i] = values.ctypes.data
        _check(self._lib.zmoe_upload_layer_weights(self._rt("upload_layer"), layer,
                                                   ctypes.byref(lw), ctypes.byref(self._err)),
               self._err)

    # ----------------------------------------------------------------- calls

    def _acquire(self, fn):
        _check(self._lib.zmoe_slot_acquire(self._rt(fn), ctypes.byref(self._slot),
                                           ctypes.byref(self._err)), self._err)
        s = self._slot
        views = self._views.get(s.index)
        if views is None:
            T, H, K = self.max_tokens, self.hidden, self.top_k
            act = _arrays.NUMPY_OF[self.activations_dtype]

            def view(ptr, ctype, shape):
                return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctype)), shape)

            act_ctype = {np.float32: ctypes.c_float, np.float16: ctypes.c_uint16,
                         np.uint16: ctypes.c_uint16}[act]
            views = {"x": view(s.input_host, act_ctype, (T, H)),
                     "y": view(s.output_host, act_ctype, (T, H)),
                     "ids": view(s.routing_ids_host, ctypes.c_uint32, (T, K)),
                     "w": view(s.routing_weights_host, ctypes.c_float, (T, K))}
            if act is np.float16:
                views["x"] = views["x"].view(np.float16)
                views["y"] = views["y"].view(np.float16)
            self._views[s.index] = views
        return views

    def _submit_wait(self, fn, submit, layer, tokens):
        rt = self._rt(fn)
        _check(submit(rt, ctypes.byref(self._slot), layer, tokens, ctypes.byref(self._err)),
               self._err)
        _check(self._lib.zmoe_wait(rt, ctypes.byref(self._slot), UINT64_MAX,
                                   ctypes.byref(self._err)), self._err)

    def _check_x(self, fn, x):
        zd = _arrays.float_dtype(fn, "x", x)
        _arrays.check_shape(fn, "x", x, (None, self.hidden))
        return zd

    def _check_layer(self, fn, layer):
        if not isinstance(layer, int) or not 0 <= layer < self.layers:
            _arrays.fail(fn, f"layer {layer!r} out of range (0..{self.layers - 1})")

    def forward(self, x, layer):
        """The full layer (router, experts, shared expert) on x [T, hidden] through the
        ring. Returns (y [T, hidden] in x's dtype and kind, topk_ids [T, top_k] int32,
        topk_weights [T, top_k] float32 as applied). T may exceed max_tokens (chunked)."""
        fn = "zmoe.Runtime.forward"
        zd = self._check_x(fn, x)
        self._check_layer(fn, layer)
        xs = _arrays.as_numpy(x)
        T = xs.shape[0]
        y, y_out = _arrays.new_like(x, zd, (T, self.hidden))
        ids = np.empty((T, self.top_k), dtype=np.int32)
        w = np.empty((T, self.top_k), dtype=np.float32)
        for start in range(0, T, self.max_tokens):
            n = min(self.max_tokens, T - start)
            v = self._acquire(fn)
            v["x"][:n] = _arrays.convert(xs[start:start + n], zd, self.activations_dtype)
            self._submit_wait(fn, self._lib.zmoe_submit, layer, n)
            y[start:start + n] = _arrays.convert(v["y"][:n], self.activations_dtype, zd)
            ids[start:start + n] = v["ids"][:n]  # the routing readback, same arrays
            w[start:start + n] = v["w"][:n]
        return y_out, _arrays.like(x, ids), _arrays.like(x, w)

    def experts(self, x, topk_ids, topk_weights, layer):
        """The routed experts of `layer` on the caller's routing (zmoe_submit_experts):
        y[t] = sum_k c_k * expert_{ids[t,k]}(x[t] * s_k), with s_k = w[t,k], c_k = 1 when
        the config applies the router weight on input, else s_k = 1, c_k = w[t,k]. No
        shared expert. A bad id raises zmoe.Error with status ZMOE_ERR_ROUTING."""
        fn = "zmoe.Runtime.experts"
        zd = self._check_x(fn, x)
        self._check_layer(fn, layer)
        T = x.shape[0]
        _arrays.check_shape(fn, "topk_ids", topk_ids, (T, self.top_k))
        _arrays.check_shape(fn, "topk_weights", topk_weights, (T, self.top_k))
        _arrays.check_floating(fn, "topk_weights", topk_weights)
        ids = _arrays.ids_as_uint32(fn, "topk_ids", topk_ids)
        w = _arrays.as_float32(topk_weights)
        xs = _arrays.as_numpy(x)
        y, y_out = _arrays.new_like(x, zd, (T, self.hidden))
        for start in range(0, T, self.max_tokens):
            n = min(self.max_tokens, T - start)
            v = self._acquire(fn)
            v["x"][:n] = _arrays.convert(xs[start:start + n], zd, self.activations_dtype)
            v["ids"][:n] = ids[start:start + n]
            v["w"][:n] = w[start:start + n]
            self._submit_wait(fn, self._lib.zmoe_submit_experts, layer, n)
            y[start:start + n] = _arrays.convert(v["y"][:n], self.activations_dtype, zd)
        return y_out

    # ------------------------------------------------------------- inspection

    def plan(self):
        """The arena map as a dict (the document of `zmoe plan --json`: "phase",
        "buffers" [{name, memory, category, offset, size, ...}], "memories", ...)."""
        rt = self._rt("plan")
        n = ctypes.c_size_t(0)
        self._lib.zmoe_plan_json(rt, None, 0, ctypes.byref(n), ctypes.byref(self._err))
        buf = ctypes.create_string_buffer(n.value + 1)
        _check(self._lib.zmoe_plan_json(rt, buf, len(buf), None, ctypes.byref(self._err)),
               self._err)
        return json.loads(buf.value.decode())

    def stats(self):
        """zmoe_get_stats as a dict: submits, host/device allocations after init (0 by
        design), device/host bytes, per-stage device ns of the last call, device, ..."""
        s = _capi.Stats()
        st = self._lib.zmoe_get_stats(self._rt("stats"), ctypes.byref(s))
        if st != 0:
            raise Error(st, "zmoe_get_stats failed")
        return {
            "submits": s.submits,
            "host_allocations_after_init": s.host_allocations_after_init,
            "device_allocations_after_init": s.device_allocations_after_init,
            "stage_device_ns": dict(zip(_capi.STAGES, list(s.stage_device_ns))),
            "device_bytes": s.device_bytes,
            "host_bytes": s.host_bytes,
            "device_name": s.device_name.decode(errors="replace"),
            "device_reason": s.device_reason.decode(errors="replace"),
            "weights_source": s.weights_source.decode(errors="replace"),
            "kernels_native": bool(s.kernels_native),
        }
