"""zmoe.fused_experts against float64 torch references of the frameworks' definitions
(tests/python/references.py): Hugging Face Llama4TextMoe and sglang's XPU out-of-place
path for top_k 1 and 2, Mixtral / Qwen2 / DeepSeek-V3 / GPT-OSS routing given from
outside, f32/f16/bf16 arrays (numpy and torch), argument errors, the weight cache, and
no allocation after the first call."""

import numpy as np
import pytest
import torch

import references as ref
import zmoe

H, I, E = 64, 32, 8


def rel_error(y, expected):
    y = torch.as_tensor(np.asarray(y)) if isinstance(y, np.ndarray) else y
    y = y.to(torch.float64)
    return float((y - expected).abs().max() / expected.abs().max().clamp(min=1e-30))


def tolerance(*dtypes):
    return 2e-5 if all(d == torch.float32 for d in dtypes) else 2.5e-2


def weights(seed, dtype=torch.float32, experts=E, hidden=H, inter=I):
    g = torch.Generator().manual_seed(seed)
    w13 = (torch.randn(experts, 2 * inter, hidden, generator=g) / hidden ** 0.5).to(dtype)
    w2 = (torch.randn(experts, hidden, inter, generator=g) / inter ** 0.5).to(dtype)
    return w13, w2


def inputs(seed, T, dtype=torch.float32, hidden=H):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(T, hidden, generator=g).to(dtype)


def random_routing(seed, T, K, experts=E):
    g = torch.Generator().manual_seed(seed)
    ids = torch.stack([torch.randperm(experts, generator=g)[:K] for _ in range(T)]).to(torch.int32)
    w = torch.rand(T, K, generator=g) + 0.1
    return w, ids


# ------------------------------------------------------------------ Llama 4

def llama4_layer(seed, dtype):
    """HF Llama4TextMoe's tensors as HF stores them, and zmoe's layout of the same."""
    g = torch.Generator().manual_seed(seed)
    router = (torch.randn(E, H, generator=g) / H ** 0.5).to(dtype)
    gate_up_proj = (torch.randn(E, H, 2 * I, generator=g) / H ** 0.5).to(dtype)
    down_proj = (torch.randn(E, I, H, generator=g) / I ** 0.5).to(dtype)
    shared = tuple((torch.randn(*s, generator=g) / s[1] ** 0.5).to(dtype)
                   for s in ((I, H), (I, H), (H, I)))
    w13 = gate_up_proj.transpose(1, 2).contiguous()  # [E, 2I, H]
    w2 = down_proj.transpose(1, 2).contiguous()      # [E, H, I]
    return router, gate_up_proj, down_proj, shared, w13, w2


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
@pytest.mark.parametrize("top_k", [1, 2])
def test_llama4_equals_hf_llama4_text_moe(top_k, dtype):
    router, gate_up_proj, down_proj, shared, w13, w2 = llama4_layer(1 + top_k, dtype)
    x = inputs(3, 6, dtype)
    out, routed, ids, scores = ref.hf_llama4_text_moe(x, router, gate_up_proj, down_proj, top_k,
                                                      shared)
    y = zmoe.fused_experts(x, w13, w2, scores.to(torch.float32), ids.to(torch.int32),
                           apply_router_weight_on_input=True)
    assert y.dtype == dtype and y.shape == x.shape
    assert rel_error(y, routed) <= tolerance(dtype)
    # the engine adds its shared expert: the whole HF layer
    g, u, dn = (m.to(torch.float64) for m in shared)
    xd = x.to(torch.float64)
    full = y.to(torch.float64) + (torch.nn.functional.silu(xd @ g.T) * (xd @ u.T)) @ dn.T
    assert rel_error(full, out) <= tolerance(dtype)


def test_llama4_top2_on_input_is_not_the_weight_at_combine():
    """With top_k 2 and a non-linear expert, scaling the input is not scaling the output:
    the combine-weight variant (what some XPU libraries do) is measurably different from
    HF, and zmoe is HF."""
    router, gate_up_proj, down_proj, shared, w13, w2 = llama4_layer(7, torch.float32)
    x = inputs(8, 6) * 4
    _, routed, ids, scores = ref.hf_llama4_text_moe(x, router, gate_up_proj, down_proj, 2)
    on_input = zmoe.fused_experts(x, w13, w2, scores.float(), ids.int(),
                                  apply_router_weight_on_input=True)
    at_combine = zmoe.fused_experts(x, w13, w2, scores.float(), ids.int())
    assert rel_error(on_input, routed) <= 2e-5
    assert rel_error(at_combine, routed) > 100 * 2e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["f32", "f16"])
def test_sglang_forward_xpu_out_of_place_top1(dtype):
    """sglang's XPU path: x * topk_weights, ones_like, fused_experts; zmoe does the same
    in one call (the weight applied inside the expert kernel)."""
    w13, w2 = weights(11, dtype)
    x = inputs(12, 5, dtype)
    w, ids = random_routing(13, 5, 1)
    expected = ref.sglang_forward_xpu(x, w13, w2, w, ids, apply_router_weight_on_input=True)
    y = zmoe.fused_experts(x, w13, w2, w, ids, apply_router_weight_on_input=True)
    assert rel_error(y, expected) <= tolerance(dtype)


def test_sglang_forward_xpu_refuses_top2_zmoe_takes_it_with_hf_semantics():
    router, gate_up_proj, down_proj, _, w13, w2 = llama4_layer(21, torch.float32)
    x = inputs(22, 4)
    _, routed, ids, scores = ref.hf_llama4_text_moe(x, router, gate_up_proj, down_proj, 2)
    with pytest.raises(AssertionError, match="top_k == 1"):
        ref.sglang_forward_xpu(x, w13, w2, scores.float(), ids, apply_router_weight_on_input=True)
    y = zmoe.fused_experts(x, w13, w2, scores.float(), ids.int(), apply_router_weight_on_input=True)
    assert rel_error(y, routed) <= 2e-5


# ------------------------------------------------------ routing from outside

def test_mixtral_routing_from_outside():
    w13, w2 = weights(31)
    x = inputs(32, 7)
    router = torch.randn(E, H, generator=torch.Generator().manual_seed(33)) / H ** 0.5
    w, ids = ref.route_mixtral(x.double() @ router.double().T, 2)
    y = zmoe.fused_experts(x, w13, w2, w.float(), ids)
    assert rel_error(y, ref.fused_experts_reference(x, w13, w2, w, ids)) <= 2e-5


@pytest.mark.parametrize("activation", ["silu", "gelu", "gelu_tanh"])
def test_qwen2_routing_from_outside(activation):
    w13, w2 = weights(41, torch.bfloat16)
    x = inputs(42, 5, torch.bfloat16)
    router = torch.randn(E, H, generator=torch.Generator().manual_seed(43)) / H ** 0.5
    w, ids = ref.route_qwen2(x.double() @ router.double().T, 4)
    y = zmoe.fused_experts(x, w13, w2, w.float(), ids.long(), activation=activation)
    expected = ref.fused_experts_reference(x, w13, w2, w, ids, activation=activation)
    assert rel_error(y, expected) <= tolerance(torch.bfloat16)


def test_deepseek_v3_routing_from_outside():
    experts = 16
    w13, w2 = weights(51, torch.float16, experts=experts)
    x = inputs(52, 6, torch.float32)
    g = torch.Generator().manual_seed(53)
    router = torch.randn(experts, H, generator=g) / H ** 0.5
    bias = torch.rand(experts, generator=g) * 0.1
    w, ids = ref.route_deepseek_v3(x.double() @ router.double().T, bias, 6, 4, 2, 2.5)
    y = zmoe.fused_experts(x, w13, w2, w.float(), ids)
    expected = ref.fused_experts_reference(x, w13, w2, w, ids)
    assert rel_error(y, expected) <= tolerance(torch.float16)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
def test_gpt_oss_swiglu_with_biases(dtype):
    w13, w2 = weights(61, dtype)
    g = torch.Generator().manual_seed(62)
    b1 = torch.randn(E, 2 * I, generator=g) * 0.1
    b2 = torch.randn(E, H, generator=g) * 0.1
    x = inputs(63, 5, dtype)
    router = torch.randn(E, H, generator=g) / H ** 0.5
    w, ids = ref.route_gpt_oss(x.double() @ router.double().T, torch.randn(E, generator=g), 4)
    alpha, limit = 1.702, 0.4  # a limit the values cross, so the clamps matter
    y = zmoe.fused_experts(x, w13, w2, w.float(), ids, b1=b1, b2=b2, gemm1_alpha=alpha,
                           gemm1_limit=limit)
    expected = ref.fused_experts_reference(x, w13, w2, w, ids, b1, b2, "silu", alpha, limit)
    assert rel_error(y, expected) <= tolerance(dtype)
    plain = ref.fused_experts_reference(x, w13, w2, w, ids, b1, b2, "silu")
    assert rel_error(plain, expected) > 10 * tolerance(dtype), "the clamps must be active"


# ------------------------------------------------------------------ dtypes

@pytest.mark.parametrize("act", ["f32", "f16", "bf16"])
@pytest.mark.parametrize("wdt", ["f32", "f16", "bf16"])
def test_dtypes_torch(wdt, act):
    dt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
    w13, w2 = weights(71, dt[wdt])
    x = inputs(72, 4, dt[act])
    w, ids = random_routing(73, 4, 2)
    y = zmoe.fused_experts(x, w13, w2, w, ids)
    assert isinstance(y, torch.Tensor) and y.dtype == dt[act] and y.shape == (4, H)
    assert rel_error(y, ref.fused_experts_reference(x, w13, w2, w, ids)) <= tolerance(dt[wdt], dt[act])


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["f32", "f16"])
def test_dtypes_numpy(dtype):
    w13, w2 = weights(81)
    x = inputs(82, 3)
    w, ids = random_routing(83, 3, 2)
    xn, w13n, w2n = (t.numpy().astype(dtype) for t in (x, w13, w2))
    y = zmoe.fused_experts(xn, w13n, w2n, w.numpy(), ids.numpy())
    assert isinstance(y, np.ndarray) and y.dtype == dtype and y.shape == (3, H)
    expected = ref.fused_experts_reference(torch.from_numpy(xn.astype(np.float32)),
                                           torch.from_numpy(w13n.astype(np.float32)),
                                           torch.from_numpy(w2n.astype(np.float32)), w, ids)
    assert rel_error(y.astype(np.float32), expected) <= (2e-5 if dtype == np.float32 else 2.5e-2)


def test_more_tokens_than_a_device_call_are_chunked():
    w13, w2 = weights(91)
    x = inputs(92, 150)  # ZMOE_MAX_TOKENS defaults to 64: three device calls
    w, ids = random_routing(93, 150, 2)
    y = zmoe.fused_experts(x, w13, w2, w, ids)
    assert rel_error(y, ref.fused_experts_reference(x, w13, w2, w, ids)) <= 2e-5
    assert zmoe.fused_experts(x[:0], w13, w2, w[:0], ids[:0]).shape == (0, H)


# ------------------------------------------------------------------ errors

def expect_error(match, status=zmoe.ZMOE_ERR_ARGUMENT):
    return pytest.raises(zmoe.Error, match=match)


def test_wrong_shapes_dtypes_devices_raise_clear_errors():
    w13, w2 = weights(101)
    x = inputs(102, 3)
    w, ids = random_routing(103, 3, 2)
    cases = [
        ((x, w13, w2.transpose(1, 2), w, ids), {}, r"w2 has shape \[8, 32, 64\]; expected \[8, 64, 32\]"),
        ((x[:, :60], w13, w2, w, ids), {}, r"w13 has shape \[8, 64, 64\]; expected \[E, 2I, 60\]"),
        ((x, w13, w2, w, ids[:2]), {}, r"topk_ids has shape \[2, 2\]; expected \[3, K\]"),
        ((x, w13, w2, w[:, :1], ids), {}, r"topk_weights has shape \[3, 1\]; expected \[3, 2\]"),
        ((x.double(), w13, w2, w, ids), {}, r"hidden_states has dtype torch.float64"),
        ((x, w13.half(), w2, w, ids), {}, r"w13 is torch.float16 and w2 is torch.float32"),
        ((x, w13, w2, w, ids.float()), {}, r"topk_ids has dtype torch.float32; expected an integer"),
        ((x, w13, w2, w, ids), {"b1": torch.zeros(E, 2 * I)}, r"b1 and b2 are given together"),
        ((x, w13, w2, w, ids), {"b1": torch.zeros(E, I), "b2": torch.zeros(E, H)},
         r"b1 has shape \[8, 32\]; expected \[8, 64\]"),
        ((x, w13, w2, w, ids), {"activation": "relu"}, r"activation 'relu' is not one of"),
        ((x, w13, w2, w, ids), {"gemm1_alpha": 1.7}, r"gemm1_alpha and gemm1_limit are given together"),
        ((x, w13, w2, w, ids), {"activation": "gelu", "gemm1_alpha": 1.7, "gemm1_limit": 7.0},
         r"apply to the silu family"),
        ((x.tolist(), w13, w2, w, ids), {}, r"hidden_states is a list; expected a numpy array"),
        ((x.to("meta"), w13, w2, w, ids), {}, r"hidden_states is on device 'meta'"),
    ]
    for args, kwargs, match in cases:
        with pytest.raises(zmoe.Error, match=match) as info:
            zmoe.fused_experts(*args, **kwargs)
        assert info.value.status == zmoe.ZMOE_ERR_ARGUMENT
        assert info.value.message.startswith("zmoe.fused_experts: ")


@pytest.mark.parametrize("bad", [E, E + 100, -1, 1 << 33], ids=["E", "E+100", "-1", "2^33"])
def test_bad_expert_id_is_a_routing_error(bad):
    w13, w2 = weights(111)
    x = inputs(112, 4)
    w, ids = random_routing(113, 4, 2)
    ids = ids.long()
    ids[2, 1] = bad
    with pytest.raises(zmoe.Error, match=r"token 2, k 1") as info:
        zmoe.fused_experts(x, w13, w2, w, ids)
    assert info.value.status == zmoe.ZMOE_ERR_ROUTING
    ids[2, 1] = 0  # the next call is clean
    assert rel_error(zmoe.fused_experts(x, w13, w2, w, ids),
                     ref.fused_experts_reference(x, w13, w2, w, ids)) <= 2e-5


# ---------------------------------------------------- cache and allocation

def test_no_allocation_and_no_upload_after_the_first_call():
    w13, w2 = weights(121, torch.bfloat16, hidden=96)  # a geometry of its own
    x = inputs(122, 3, torch.bfloat16, hidden=96)
    w, ids = random_routing(123, 3, 2)
    first = zmoe.fused_experts(x, w13, w2, w, ids)
    rt = [r for r in zmoe.runtimes() if r.hidden == 96][0]
    before, uploads = rt.stats(), zmoe.cache_info()["uploads"]
    for i in range(20):
        y = zmoe.fused_experts(x, w13, w2, w, ids)
    after = rt.stats()
    assert torch.equal(y, first)
    assert after["submits"] == before["submits"] + 20
    assert after["host_allocations_after_init"] == 0
    assert after["device_allocations_after_init"] == 0
    assert after["device_bytes"] == before["device_bytes"]
    assert zmoe.cache_info()["uploads"] == uploads, "the weights were uploaded again"
    plan = rt.plan()
    assert plan["buffer_count"] == len(plan["buffers"])
    assert any(b["name"] == "layer0.w13" and b["category"] == "weight" for b in plan["buffers"])


def test_torch_weights_changed_in_place_are_uploaded_again():
    w13, w2 = weights(131)
    x = inputs(132, 3)
    w, ids = random_routing(133, 3, 2)
    zmoe.fused_experts(x, w13, w2, w, ids)
    uploads = zmoe.cache_info()["uploads"]
    zmoe.fused_experts(x, w13, w2, w, ids)
    assert zmoe.cache_info()["uploads"] == uploads
    w13.mul_(2.0)  # bumps w13._version
    y = zmoe.fused_experts(x, w13, w2, w, ids)
    assert zmoe.cache_info()["uploads"] == uploads + 1
    assert rel_error(y, ref.fused_experts_reference(x, w13, w2, w, ids)) <= 2e-5


def test_numpy_weights_need_invalidate_after_an_in_place_change():
    w13, w2 = (t.numpy() for t in weights(141))
    x = inputs(142, 3).numpy()
    w, ids = (t.numpy() for t in random_routing(143, 3, 2))
    before = zmoe.fused_experts(x, w13, w2, w, ids)
    w13 *= 2.0  # numpy has no version counter: the cached upload is what runs
    stale = zmoe.fused_experts(x, w13, w2, w, ids)
    assert np.array_equal(stale, before)
    zmoe.invalidate(w13)
    fresh = zmoe.fused_experts(x, w13, w2, w, ids)
    expected = ref.fused_experts_reference(*(torch.from_numpy(a) for a in (x, w13, w2, w, ids)))
    assert rel_error(fresh, expected) <= 2e-5


def test_more_weight_sets_than_layers_reuse_the_least_recent(monkeypatch):
    monkeypatch.setenv("ZMOE_WEIGHT_SETS", "2")
    sets = [weights(150 + i, hidden=48) for i in range(3)]
    x = inputs(160, 2, hidden=48)
    w, ids = random_routing(161, 2, 2)
    for _ in range(2):
        for w13, w2 in sets:
            y = zmoe.fused_experts(x, w13, w2, w, ids)
            assert rel_error(y, ref.fused_experts_reference(x, w13, w2, w, ids)) <= 2e-5
