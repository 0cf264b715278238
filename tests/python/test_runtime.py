"""zmoe.Runtime: a config file or a dict, weights (the config's, or one layer uploaded
from torch tensors), forward through the ring against a float64 torch reference of the
full layer (router, top-k, experts, shared expert), the experts-only call, plan(),
stats(), close, and errors as zmoe.Error with status and message."""

import os

import numpy as np
import pytest
import torch

import references as ref
import zmoe

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
DEFAULT = os.path.join(ROOT, "config", "examples", "default.conf")


def mini(**router):
    return {
        "model": {"hidden": 64, "intermediate": 32, "experts": 8, "top_k": 2, "layers": 2,
                  "shared_experts": 1, "shared_intermediate": 16},
        "router": {"scoring": "softmax", "renormalize": True, **router},
        "experts": {"activation": "silu"},
        "dtype": {"weights": "f32"},
        "runtime": {"max_tokens": 4, "ring_depth": 2},
    }


def layer_tensors(seed, rt):
    """Random weights in zmoe's kernel layout for rt's geometry (f32)."""
    g = torch.Generator().manual_seed(seed)
    E, H, I = rt.experts_count, rt.hidden, rt.intermediate
    S = 16
    return {
        "router_w": torch.randn(E, H, generator=g) / H ** 0.5,
        "w13": torch.randn(E, 2 * I, H, generator=g) / H ** 0.5,
        "w2": torch.randn(E, H, I, generator=g) / I ** 0.5,
        "shared_w13": torch.randn(2 * S, H, generator=g) / H ** 0.5,
        "shared_w2": torch.randn(H, S, generator=g) / S ** 0.5,
    }


def full_layer_reference(x, t, top_k):
    """Mixtral-style routing (softmax, top-k, renormalize), the routed experts, plus the
    shared expert (silu MLP on the unscaled x), in float64."""
    w, ids = ref.route_mixtral(x.double() @ t["router_w"].double().T, top_k)
    y = ref.fused_experts_reference(x, t["w13"], t["w2"], w, ids)
    sh = ref.act_and_mul(x.double() @ t["shared_w13"].double().T, "silu") @ t["shared_w2"].double().T
    return y + sh, ids, w


def test_forward_equals_the_reference_layer_and_chunks():
    with zmoe.Runtime(mini()) as rt:
        t = layer_tensors(1, rt)
        rt.upload_layer(1, t)
        x = torch.randn(10, 64, generator=torch.Generator().manual_seed(2))  # 3 ring calls
        y, ids, w = rt.forward(x, 1)
        expected, eids, ew = full_layer_reference(x, t, 2)
        assert y.shape == (10, 64) and ids.dtype == torch.int32 and w.dtype == torch.float32
        assert float((y.double() - expected).abs().max() / expected.abs().max()) <= 2e-5
        assert torch.equal(ids.long(), eids)
        assert torch.allclose(w.double(), ew, atol=1e-6)
        # layer 0 has no weights yet
        with pytest.raises(zmoe.Error, match="layer 0 has no weights") as info:
            rt.forward(x, 0)
        assert info.value.status == zmoe.ZMOE_ERR_STATE


def test_experts_only_call_with_the_callers_routing():
    with zmoe.Runtime(mini(apply_router_weight_on_input=True)) as rt:
        t = layer_tensors(3, rt)
        rt.upload_layer(0, t)
        x = np.random.default_rng(4).standard_normal((3, 64)).astype(np.float32)
        ids = np.array([[1, 5], [0, 7], [3, 3]], dtype=np.int32)
        w = np.array([[0.7, 0.2], [0.5, 0.5], [0.9, 0.1]], dtype=np.float32)
        y = rt.experts(x, ids, w, 0)
        expected = ref.fused_experts_reference(torch.from_numpy(x), t["w13"], t["w2"],
                                               torch.from_numpy(w), torch.from_numpy(ids),
                                               apply_router_weight_on_input=True)
        assert isinstance(y, np.ndarray)
        assert float(np.abs(y - expected.numpy()).max() / expected.abs().max()) <= 2e-5


def test_config_file_synthetic_weights_plan_and_stats():
    with zmoe.Runtime(DEFAULT) as rt:
        rt.load_weights()
        with pytest.raises(zmoe.Error, match="loaded once") as info:
            rt.load_weights()
        assert info.value.status == zmoe.ZMOE_ERR_STATE
        x = np.ones((2, rt.hidden), dtype=np.float32)
        y1, _, _ = rt.forward(x, 0)
        s = rt.stats()
        assert s["submits"] == 1 and s["host_allocations_after_init"] == 0
        assert s["device_allocations_after_init"] == 0 and "synthetic" in s["weights_source"]
        plan = rt.plan()
        names = {b["name"]: b for b in plan["buffers"]}
        assert names["layer0.w13"]["category"] == "weight"
        assert names["act.a"]["category"] == "activation"
        device = [m for m in plan["memories"] if m["memory"] == "device"][0]
        assert device["size"] == s["device_bytes"]
        for _ in range(5):
            y2, _, _ = rt.forward(x, 0)
        assert np.array_equal(y1, y2)
        assert rt.stats()["host_allocations_after_init"] == 0


def test_closed_runtime_and_bad_arguments():
    rt = zmoe.Runtime(mini())
    rt.upload_layer(0, layer_tensors(5, rt))
    x = np.zeros((2, 64), dtype=np.float32)
    with pytest.raises(zmoe.Error, match=r"x has shape \[2, 63\]; expected \[\*, 64\]"):
        rt.forward(np.zeros((2, 63), dtype=np.float32), 0)
    with pytest.raises(zmoe.Error, match=r"layer 2 out of range \(0..1\)"):
        rt.forward(x, 2)
    with pytest.raises(zmoe.Error, match="tensor 'w2' has 4 bytes"):
        rt.upload_layer(1, {**layer_tensors(5, rt), "w2": np.zeros(1, dtype=np.float32)})
    with pytest.raises(zmoe.Error, match="unknown tensor name"):
        rt.upload_layer(1, {"w4": np.zeros(1)})
    with pytest.raises(zmoe.Error, match="'shared_w2' is NULL") as info:
        rt.upload_layer(1, {k: v for k, v in layer_tensors(5, rt).items() if k != "shared_w2"})
    assert info.value.status == zmoe.ZMOE_ERR_ARGUMENT
    rt.close()
    with pytest.raises(zmoe.Error, match="closed") as info:
        rt.forward(x, 0)
    assert info.value.status == zmoe.ZMOE_ERR_STATE
    rt.close()  # twice is fine


def test_config_errors_name_the_key():
    bad = mini()
    bad["router"]["scoring"] = "softplus"
    with pytest.raises(zmoe.Error, match=r"router\.scoring") as info:
        zmoe.Runtime(bad)
    assert info.value.status == zmoe.ZMOE_ERR_CONFIG
    with pytest.raises(zmoe.Error) as info:
        zmoe.Runtime("/nonexistent/zmoe.conf")
    assert info.value.status == zmoe.ZMOE_ERR_IO
    assert "/nonexistent/zmoe.conf" in info.value.message
    with pytest.raises(zmoe.Error, match="must be a path or a dict"):
        zmoe.Runtime(42)
