"""float64 torch references, written from the definitions of the frameworks' MoE layers
(Hugging Face transformers' Llama4TextMoe, sglang's XPU forward path with its
out-of-place apply_router_weight_on_input, and each family's router), for the tests of
python/zmoe. Weights are given in zmoe's / sgl-kernel's layout: w13 [E, 2I, H] gate rows
then up rows, w2 [E, H, I]; HF Llama 4 stores the transposes (gate_up_proj [E, H, 2I],
down_proj [E, I, H]), which hf_llama4_text_moe takes as HF has them."""

import torch
import torch.nn.functional as F

D = torch.float64


def act_and_mul(gate_up, activation, alpha=None, limit=None):
    """[..., 2I] gate then up -> [..., I]."""
    gate, up = gate_up.chunk(2, dim=-1)
    if activation == "silu" and alpha is None:
        return F.silu(gate) * up
    if activation == "gelu":
        return F.gelu(gate) * up
    if activation == "gelu_tanh":
        return F.gelu(gate, approximate="tanh") * up
    # GPT-OSS: clamp, then gate * sigmoid(alpha * gate) * (up + 1)
    gate = gate.clamp(max=limit)
    up = up.clamp(min=-limit, max=limit)
    return gate * torch.sigmoid(alpha * gate) * (up + 1)


def expert(x, e, w13, w2, b1=None, b2=None, activation="silu", alpha=None, limit=None):
    """One expert e on rows x [N, H], in float64."""
    h = x.to(D) @ w13[e].to(D).T
    if b1 is not None:
        h = h + b1[e].to(D)
    o = act_and_mul(h, activation, alpha, limit) @ w2[e].to(D).T
    if b2 is not None:
        o = o + b2[e].to(D)
    return o


def fused_experts_reference(x, w13, w2, topk_weights, topk_ids, b1=None, b2=None,
                            activation="silu", alpha=None, limit=None,
                            apply_router_weight_on_input=False):
    """What fused_experts computes, by its definition, per token t:
    y[t] = sum_k c_k * expert_{ids[t,k]}(x[t] * s_k); s_k = w[t,k], c_k = 1 on input,
    else s_k = 1, c_k = w[t,k]."""
    T, K = topk_ids.shape
    y = torch.zeros(T, x.shape[1], dtype=D)
    xd = x.to(D)
    w = topk_weights.to(D)
    for t in range(T):
        for k in range(K):
            e = int(topk_ids[t, k])
            s = w[t, k] if apply_router_weight_on_input else 1.0
            c = 1.0 if apply_router_weight_on_input else w[t, k]
            y[t] += c * expert(xd[t:t + 1] * s, e, w13, w2, b1, b2, activation, alpha, limit)[0]
    return y


def hf_llama4_text_moe(x, router_weight, gate_up_proj, down_proj, top_k, shared=None):
    """Hugging Face Llama4TextMoe.forward in float64: router logits, top-k, a score of
    sigmoid(logit) for the chosen experts and 0 (sigmoid(-inf)) for the others; every
    expert runs on every token's input scaled by that score (an unchosen expert sees 0);
    the experts' outputs are summed, plus the shared expert on the unscaled input.
    gate_up_proj [E, H, 2I] (gate columns first), down_proj [E, I, H] as HF stores them.
    shared: (gate_proj [I, H], up_proj [I, H], down_proj [H, I]) nn.Linear weights, or None.
    Returns (out, routed part, topk ids, topk scores)."""
    xd = x.to(D)
    E = router_weight.shape[0]
    logits = xd @ router_weight.to(D).T
    top_value, top_index = torch.topk(logits, top_k, dim=1)
    scores = torch.full_like(logits, float("-inf")).scatter_(1, top_index, top_value)
    scores = torch.sigmoid(scores).transpose(0, 1)  # [E, T]
    routed_in = xd.repeat(E, 1) * scores.reshape(-1, 1)  # [E*T, H]
    routed_in = routed_in.view(E, -1, xd.shape[1])
    gate_up = torch.bmm(routed_in, gate_up_proj.to(D))
    gate, up = gate_up.chunk(2, dim=-1)
    routed_out = torch.bmm(up * F.silu(gate), down_proj.to(D)).sum(dim=0)
    out = routed_out.clone()
    if shared is not None:
        g, u, dn = (m.to(D) for m in shared)
        out = out + (F.silu(xd @ g.T) * (xd @ u.T)) @ dn.T
    return out, routed_out, top_index, torch.sigmoid(top_value)


def sglang_forward_xpu(x, w13, w2, topk_weights, topk_ids, apply_router_weight_on_input):
    """sglang's unquantized XPU MoE path as the issue describes it: with
    apply_router_weight_on_input it asserts top_k == 1, scales x out of place by the
    (only) weight, replaces the weights by ones (`ones_like`), then calls fused_experts
    (here its float64 definition)."""
    if apply_router_weight_on_input:
        assert topk_weights.dim() == 2 and topk_weights.shape[-1] == 1, \
            "apply_router_weight_on_input supports top_k == 1 only"
        x = x.to(D) * topk_weights.to(D)
        topk_weights = torch.ones_like(topk_weights, dtype=torch.float32)
    return fused_experts_reference(x, w13, w2, topk_weights, topk_ids)


# ------------------------------------------------------------------ routers

def route_mixtral(logits, top_k):
    """Mixtral / Qwen3-MoE (norm_topk_prob): softmax over all experts, top-k, renormalize."""
    p = torch.softmax(logits.to(D), dim=-1)
    w, ids = torch.topk(p, top_k, dim=-1)
    return w / w.sum(dim=-1, keepdim=True), ids


def route_qwen2(logits, top_k):
    """Qwen2-MoE (norm_topk_prob false): softmax, top-k, weights as they are."""
    w, ids = torch.topk(torch.softmax(logits.to(D), dim=-1), top_k, dim=-1)
    return w, ids


def route_deepseek_v3(logits, bias, top_k, groups, topk_group, scaling):
    """DeepSeek-V3 noaux_tc: sigmoid scores; choice = score + correction bias; groups
    ranked by the sum of their two best choices, the topk_group best kept; top-k of the
    choices among them; weights = scores, renormalized, times the routed scaling."""
    s = torch.sigmoid(logits.to(D))
    choice = s + bias.to(D)
    T, E = choice.shape
    g = choice.view(T, groups, E // groups).topk(2, dim=-1).values.sum(dim=-1)
    keep = torch.zeros_like(g).scatter_(1, g.topk(topk_group, dim=-1).indices, 1.0)
    mask = keep.unsqueeze(-1).expand(T, groups, E // groups).reshape(T, E)
    ids = choice.masked_fill(mask == 0, float("-inf")).topk(top_k, dim=-1).indices
    w = s.gather(1, ids)
    return w / w.sum(dim=-1, keepdim=True) * scaling, ids


def route_gpt_oss(logits, router_bias, top_k):
    """GPT-OSS: top-k of the biased router logits, softmax over those k."""
    v, ids = torch.topk(logits.to(D) + router_bias.to(D), top_k, dim=-1)
    return torch.softmax(v, dim=-1), ids
