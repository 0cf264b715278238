"""The arrays the package takes and returns: numpy arrays and torch CPU tensors, seen as
contiguous numpy arrays of the bytes zmoe reads (bf16 as its 16-bit pattern, since numpy
has no bf16). Every check names the argument and what was wrong with it."""

import numpy as np

from ._errors import Error, ZMOE_ERR_ARGUMENT

try:
    import torch
except ImportError:  # torch is optional: numpy arrays work without it
    torch = None

# numpy element type of each zmoe dtype's bytes
NUMPY_OF = {"f32": np.float32, "f16": np.float16, "bf16": np.uint16}


def is_torch(a):
    return torch is not None and isinstance(a, torch.Tensor)


def fail(fn, message):
    raise Error(ZMOE_ERR_ARGUMENT, f"{fn}: {message}")


def check_array(fn, name, a):
    """A numpy array or a torch CPU tensor; anything else is an error naming it."""
    if is_torch(a):
        if a.device.type != "cpu":
            fail(fn, f"{name} is on device '{a.device}'; zmoe takes numpy arrays and torch CPU "
                     "tensors (an engine on an Intel GPU shares its Level Zero queue through the "
                     "C API: runtime/README.md)")
        return
    if not isinstance(a, np.ndarray):
        fail(fn, f"{name} is a {type(a).__name__}; expected a numpy array or a torch CPU tensor")


def float_dtype(fn, name, a):
    """'f32', 'f16' or 'bf16' for a float array of one of those types, else an error."""
    check_array(fn, name, a)
    if is_torch(a):
        names = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
        got = names.get(a.dtype)
    else:
        got = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16"}.get(a.dtype)
    if got is None:
        fail(fn, f"{name} has dtype {a.dtype}; expected float32, float16 or bfloat16 "
                 "(bfloat16 through torch)")
    return got


def check_floating(fn, name, a):
    """Any floating dtype (routing weights and biases are converted to float32)."""
    check_array(fn, name, a)
    floating = a.dtype.is_floating_point if is_torch(a) else a.dtype.kind == "f"
    if not floating:
        fail(fn, f"{name} has dtype {a.dtype}; expected a floating-point type")


def check_shape(fn, name, a, shape):
    """shape: a tuple of ints or None (any). Names the argument, the expected and the
    actual shape."""
    got = tuple(a.shape)
    if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        fail(fn, f"{name} has shape {list(got)}; expected {want}")


def as_numpy(a):
    """The array's values as a contiguous numpy array (no copy when already contiguous;
    bf16 as uint16 bit patterns)."""
    if is_torch(a):
        a = a.detach()
        if a.dtype == torch.bfloat16:
            a = a.view(torch.int16)
        a = a.contiguous().numpy()
        return a.view(np.uint16) if a.dtype == np.int16 else a
    return np.ascontiguousarray(a)


def as_float32(a):
    """Values converted to a contiguous float32 numpy array (router weights, biases)."""
    if is_torch(a):
        return a.detach().to(torch.float32).contiguous().numpy()
    return np.ascontiguousarray(a, dtype=np.float32)


def check_int(fn, name, a):
    check_array(fn, name, a)
    integer = (not a.dtype.is_floating_point and not a.dtype.is_complex and a.dtype != torch.bool
               if is_torch(a) else a.dtype.kind in "iu")
    if not integer:
        fail(fn, f"{name} has dtype {a.dtype}; expected an integer type (int32 or int64)")


def ids_as_uint32(fn, name, a):
    """Integer expert ids as uint32. Negative ids and ids past 32 bits become 0xffffffff,
    which the device's bounds check reports (an id wrapping onto a valid expert would
    not be caught there)."""
    check_int(fn, name, a)
    v = a.detach().contiguous().numpy() if is_torch(a) else np.ascontiguousarray(a)
    if v.dtype.itemsize > 4 or v.dtype.kind == "i":
        v64 = v.astype(np.int64, copy=False)
        return np.where((v64 < 0) | (v64 > 0xffffffff), 0xffffffff, v64).astype(np.uint32)
    return v.astype(np.uint32, copy=False)


def new_like(template, zdtype, shape):
    """(the numpy buffer to fill, the array to return): a new array of `template`'s kind
    (numpy or torch) with zmoe dtype `zdtype`."""
    buf = np.empty(shape, dtype=NUMPY_OF[zdtype])
    if not is_torch(template):
        return buf, buf
    t = torch.from_numpy(buf.view(np.int16) if zdtype == "bf16" else buf)
    return buf, (t.view(torch.bfloat16) if zdtype == "bf16" else t)


def like(template, values):
    """A numpy result (int32 ids, float32 weights) in the kind of `template`."""
    return torch.from_numpy(values) if is_torch(template) else values


def convert(values, src, dst):
    """numpy values of zmoe dtype `src` as zmoe dtype `dst` (bf16 rounded to nearest
    even, like zmoe_f32_to_bf16)."""
    if src == dst:
        return values
    f = values
    if src == "bf16":
        f = (values.astype(np.uint32) << 16).view(np.float32)
    f = f.astype(np.float32, copy=False)
    if dst == "bf16":
        u = f.view(np.uint32)
        rounded = ((u + 0x7fff + ((u >> 16) & 1)) >> 16).astype(np.uint16)
        return np.where(np.isnan(f), np.uint16(0x7fc0), rounded)
    return f.astype(NUMPY_OF[dst])
