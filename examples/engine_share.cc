// engine_share.cc — an inference engine that owns its Level Zero context, device and
// queue, its expert weights (device memory in sgl-kernel's layout) and its routing,
// and runs zmoe's experts-only MoE layer on them. Built and run on hostdev by the test
// suite (meson test engine_share, and against the installed header by tests/install).
//
// On a real Intel GPU the handles come from the engine's SYCL queue:
//
//   sycl::queue q{sycl::gpu_selector_v, sycl::property::queue::in_order{}};
//   // #include <sycl/ext/oneapi/backend/level_zero.hpp>
//   ze_context_handle_t ctx = sycl::get_native<sycl::backend::ext_oneapi_level_zero>(q.get_context());
//   ze_device_handle_t dev = sycl::get_native<sycl::backend::ext_oneapi_level_zero>(q.get_device());
//   auto native = sycl::get_native<sycl::backend::ext_oneapi_level_zero>(q);
//   // std::variant<ze_command_queue_handle_t, ze_command_list_handle_t>: a queue when the
//   // SYCL runtime submits through regular command lists, an immediate command list when
//   // it uses immediate ones (its Level Zero plugin's immediate-command-list setting).
//   ze_command_queue_handle_t queue = std::holds_alternative<ze_command_queue_handle_t>(native)
//                                         ? std::get<ze_command_queue_handle_t>(native) : nullptr;
//   // weights, x, y, routing: sycl::malloc_device / malloc_host / malloc_shared on q are
//   // USM of ctx, so they are zmoe device pointers as they are.
//
// Path A (the engine has a queue): zmoe_create_info gets context, device and queue;
// zmoe_record_experts appends the layer to the engine's own regular command list, which
// the engine executes on its queue with everything else (no zmoe call per step).
// Path B (immediate command lists, no queue handle): zmoe_create_info gets context and
// device only; zmoe makes its own in-order queue on the same context and runs the layer
// through its ring (zmoe_submit_experts). The engine orders the two queues itself (e.g.
// q.wait() before the submit, or an event); memory is shared through the context.
//
// Build here: g++ -std=c++17 engine_share.cc $(pkg-config --cflags --libs zmoe)
// Run here: ZE_ENABLE_ALT_DRIVERS=/path/to/libze_hostdev.so ./a.out

#include <zmoe.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr uint32_t H = 64, I = 32, E = 8, K = 2, LAYERS = 2, T = 5;

#define ZE(call)                                                                          \
    do {                                                                                  \
        ze_result_t r_ = (call);                                                          \
        if (r_ != ZE_RESULT_SUCCESS) {                                                    \
            std::fprintf(stderr, "%s failed: 0x%x\n", #call, static_cast<unsigned>(r_)); \
            std::exit(1);                                                                 \
        }                                                                                 \
    } while (0)

struct Engine {
    ze_context_handle_t ctx = nullptr;
    ze_device_handle_t dev = nullptr;
    ze_command_queue_handle_t queue = nullptr;

    void *device_alloc(size_t n)
    {
        ze_device_mem_alloc_desc_t d{};
        d.stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC;
        void *p = nullptr;
        ZE(zeMemAllocDevice(ctx, &d, n, 64, dev, &p));
        return p;
    }
    template <class T_> T_ *host_alloc(size_t n)
    {
        ze_host_mem_alloc_desc_t d{};
        d.stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC;
        void *p = nullptr;
        ZE(zeMemAllocHost(ctx, &d, n * sizeof(T_), 64, &p));
        return static_cast<T_ *>(p);
    }
    ze_command_list_handle_t new_list()
    {
        ze_command_list_desc_t d{};
        d.stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC;
        ze_command_list_handle_t l = nullptr;
        ZE(zeCommandListCreate(ctx, dev, &d, &l));
        return l;
    }
    void run(ze_command_list_handle_t l)
    {
        ZE(zeCommandQueueExecuteCommandLists(queue, 1, &l, nullptr));
        ZE(zeCommandQueueSynchronize(queue, UINT64_MAX));
    }
};

float value(uint32_t seed, size_t i, float scale)
{
    uint32_t s = seed * 2654435761u + static_cast<uint32_t>(i) * 40503u + 1;
    s ^= s >> 13;
    s *= 0x5bd1e995u;
    s ^= s >> 15;
    return scale * (static_cast<float>(s % 2001) / 1000.0f - 1.0f);
}

// The engine's weights of one layer: w13 [E][2I][H] gate-then-up, w2 [E][H][I], f32 (the
// layout sgl-kernel's fused_experts takes), plus zmoe's router [E][H] that the
// experts-only call never reads (a real engine passes its gate weight).
struct LayerHost {
    std::vector<float> router, w13, w2;
    explicit LayerHost(uint32_t seed)
        : router(size_t(E) * H), w13(size_t(E) * 2 * I * H), w2(size_t(E) * H * I)
    {
        for (size_t i = 0; i < router.size(); i++)
            router[i] = value(seed, i, 0.1f);
        for (size_t i = 0; i < w13.size(); i++)
            w13[i] = value(seed + 1, i, 1.0f / std::sqrt(float(H)));
        for (size_t i = 0; i < w2.size(); i++)
            w2[i] = value(seed + 2, i, 1.0f / std::sqrt(float(I)));
    }
};

// y[t] = sum_k w[t][k] * W2[e] (silu(gate) * up), gate/up = W13[e] x[t]: the definition.
void reference(const LayerHost &L, const float *x, const uint32_t *ids, const float *w, float *y)
{
    std::vector<double> a(I);
    for (uint32_t t = 0; t < T; t++) {
        for (uint32_t h = 0; h < H; h++)
            y[t * H + h] = 0;
        for (uint32_t k = 0; k < K; k++) {
            const uint32_t e = ids[t * K + k];
            for (uint32_t i = 0; i < I; i++) {
                double g = 0, u = 0;
                for (uint32_t h = 0; h < H; h++) {
                    g += double(L.w13[(size_t(e) * 2 * I + i) * H + h]) * x[t * H + h];
                    u += double(L.w13[(size_t(e) * 2 * I + I + i) * H + h]) * x[t * H + h];
                }
                a[i] = g / (1 + std::exp(-g)) * u;
            }
            for (uint32_t h = 0; h < H; h++) {
                double o = 0;
                for (uint32_t i = 0; i < I; i++)
                    o += double(L.w2[(size_t(e) * H + h) * I + i]) * a[i];
                y[t * H + h] += float(w[t * K + k] * o);
            }
        }
    }
}

bool close_to(const float *y, const float *ref, size_t n, const char *what)
{
    double md = 0, ms = 1e-30;
    for (size_t i = 0; i < n; i++) {
        md = std::fmax(md, std::fabs(double(y[i]) - ref[i]));
        ms = std::fmax(ms, std::fabs(double(ref[i])));
    }
    std::printf("%s: max |y - reference| / max |reference| = %.3g\n", what, md / ms);
    return md / ms <= 1e-4;
}

} // namespace

int main()
{
    Engine eng;
    ZE(zeInit(0));
    uint32_t n = 1;
    ze_driver_handle_t drv = nullptr;
    ZE(zeDriverGet(&n, &drv));
    n = 1;
    ZE(zeDeviceGet(drv, &n, &eng.dev));
    ze_context_desc_t cd{};
    cd.stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC;
    ZE(zeContextCreate(drv, &cd, &eng.ctx));
    ze_command_queue_desc_t qd{};
    qd.stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC;
    qd.mode = ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS; // in order: no flags
    ZE(zeCommandQueueCreate(eng.ctx, eng.dev, &qd, &eng.queue));

    // The engine's weights in its device memory, uploaded once with its own list.
    std::vector<LayerHost> host;
    std::vector<zmoe_layer_weights> weights(LAYERS);
    std::vector<void *> allocations;
    ze_command_list_handle_t upload = eng.new_list();
    for (uint32_t l = 0; l < LAYERS; l++)
        host.emplace_back(100 * (l + 1));
    for (uint32_t l = 0; l < LAYERS; l++) {
        const std::vector<float> *src[3] = {&host[l].router, &host[l].w13, &host[l].w2};
        const zmoe_tensor dst[3] = {ZMOE_TENSOR_ROUTER_W, ZMOE_TENSOR_W13, ZMOE_TENSOR_W2};
        weights[l] = zmoe_layer_weights{};
        for (int i = 0; i < 3; i++) {
            void *p = eng.device_alloc(src[i]->size() * sizeof(float));
            allocations.push_back(p);
            ZE(zeCommandListAppendMemoryCopy(upload, p, src[i]->data(), src[i]->size() * sizeof(float),
                                             nullptr, 0, nullptr));
            weights[l].tensor[dst[i]] = p;
        }
    }
    ZE(zeCommandListClose(upload));
    eng.run(upload);

    zmoe_config cfg{};
    cfg.model.hidden = H;
    cfg.model.intermediate = I;
    cfg.model.experts = E;
    cfg.model.top_k = K;
    cfg.model.layers = LAYERS;
    cfg.router.scoring = ZMOE_SCORING_SOFTMAX;
    cfg.router.routed_scaling_factor = 1.0f;
    cfg.router.groups = cfg.router.topk_group = 1;
    cfg.experts.activation = ZMOE_ACT_SILU;
    cfg.dtype.weights = cfg.dtype.activations = ZMOE_DTYPE_F32;
    cfg.runtime.max_tokens = 8;
    cfg.runtime.ring_depth = 1;
    cfg.runtime.device = ZMOE_DEVICE_AUTO;
    cfg.runtime.wait_timeout_ms = 30000;
    cfg.weights.layout = ZMOE_LAYOUT_SYNTHETIC;
    zmoe_error err{};
    if (zmoe_config_validate(&cfg, &err) != ZMOE_OK) {
        std::fprintf(stderr, "config: %s\n", err.msg);
        return 1;
    }

    // The engine's activations and routing (host USM here so the example can write
    // them; device USM works the same for zmoe).
    float *x = eng.host_alloc<float>(size_t(8) * H), *y = eng.host_alloc<float>(size_t(8) * H);
    float *w = eng.host_alloc<float>(size_t(8) * K);
    uint32_t *ids = eng.host_alloc<uint32_t>(size_t(8) * K), *tok = eng.host_alloc<uint32_t>(1);
    for (uint32_t i = 0; i < T * H; i++)
        x[i] = value(7, i, 1.0f);
    for (uint32_t t = 0; t < T; t++)
        for (uint32_t k = 0; k < K; k++) {
            ids[t * K + k] = (t * 3 + k * 5) % E;
            w[t * K + k] = k == 0 ? 0.7f : 0.3f;
        }
    *tok = T;
    std::vector<float> ref(size_t(T) * H);
    bool ok = true;

    // Path A: the engine's context, device and queue; the layer in the engine's list.
    {
        zmoe_create_info info{};
        info.config = &cfg;
        info.context = eng.ctx;
        info.device = eng.dev;
        info.queue = eng.queue;
        info.weights = weights.data(); // zmoe plans no weight bytes
        zmoe_runtime *rt = nullptr;
        if (zmoe_create(&info, &rt, &err) != ZMOE_OK) {
            std::fprintf(stderr, "zmoe_create: %s\n", err.msg);
            return 1;
        }
        zmoe_stats s{};
        zmoe_get_stats(rt, &s);
        std::printf("path A: zmoe's device arena %llu bytes (no weights), weights: %s\n",
                    static_cast<unsigned long long>(s.device_bytes), s.weights_source);
        ze_command_list_handle_t step = eng.new_list(); // the engine's step, recorded once
        if (zmoe_record_experts(rt, step, 1, x, ids, w, y, tok, &err) != ZMOE_OK) {
            std::fprintf(stderr, "zmoe_record_experts: %s\n", err.msg);
            return 1;
        }
        ZE(zeCommandListClose(step));
        eng.run(step); // what the engine does every decode step
        if (zmoe_routing_status(rt, &err) != ZMOE_OK) {
            std::fprintf(stderr, "%s\n", err.msg);
            ok = false;
        }
        reference(host[1], x, ids, w, ref.data());
        ok &= close_to(y, ref.data(), size_t(T) * H, "path A (engine's list, layer 1)");
        zeCommandListDestroy(step);
        zmoe_destroy(rt);
    }

    // Path B: no queue handle (immediate command lists): zmoe's ring on the same context.
    {
        zmoe_create_info info{};
        info.config = &cfg;
        info.context = eng.ctx;
        info.device = eng.dev;
        info.weights = weights.data();
        info.ring_experts = true;
        zmoe_runtime *rt = nullptr;
        zmoe_slot slot{};
        if (zmoe_create(&info, &rt, &err) != ZMOE_OK || zmoe_slot_acquire(rt, &slot, &err) != ZMOE_OK) {
            std::fprintf(stderr, "path B: %s\n", err.msg);
            return 1;
        }
        std::memcpy(slot.input_host, x, sizeof(float) * T * H);
        std::memcpy(slot.routing_ids_host, ids, sizeof(uint32_t) * T * K);
        std::memcpy(slot.routing_weights_host, w, sizeof(float) * T * K);
        if (zmoe_submit_experts(rt, &slot, 0, T, &err) != ZMOE_OK ||
            zmoe_wait(rt, &slot, UINT64_MAX, &err) != ZMOE_OK) {
            std::fprintf(stderr, "path B: %s\n", err.msg);
            return 1;
        }
        reference(host[0], x, ids, w, ref.data());
        ok &= close_to(static_cast<const float *>(slot.output_host), ref.data(), size_t(T) * H,
                       "path B (zmoe's ring on the engine's context, layer 0)");
        zmoe_destroy(rt);
    }

    for (void *p : allocations)
        zeMemFree(eng.ctx, p);
    for (void *p : {static_cast<void *>(x), static_cast<void *>(y), static_cast<void *>(w),
                    static_cast<void *>(ids), static_cast<void *>(tok)})
        zeMemFree(eng.ctx, p);
    zeCommandListDestroy(upload);
    zeCommandQueueDestroy(eng.queue);
    zeContextDestroy(eng.ctx);
    std::printf("%s\n", ok ? "engine_share: ok" : "engine_share: FAILED");
    return ok ? 0 : 1;
}
