/* upload.c — weights stream from weights/ through the host-visible staging buffer into
 * their places in the device arena, one chunk at a time. One regular command list and
 * one fence, both created at init, are reused for every chunk (reset, copy, close,
 * execute, wait): nothing grows with the model and nothing is created per chunk. */
#include "runtime/runtime.h"
#include "weights/quant.h"

#include <string.h>

#define UPLOAD_TIMEOUT_NS (60ull * 1000 * 1000 * 1000)

static enum zmoe_status sink(void *ctx, uint32_t layer, enum zmoe_tensor t, uint64_t offset,
                             const void *bytes, size_t size, struct zmoe_error *err)
{
    struct zmoe_runtime *rt = ctx;
    if (layer >= rt->cfg.model.layers) {
        zmoe_runtime_errorf(err, "weights: layer %u out of range (%u layers)", layer,
                            rt->cfg.model.layers);
        return ZMOE_ERR_WEIGHTS;
    }
    uint32_t b = zmoe_runtime_weight_buffer(&rt->ids, layer, t);
    if (b == ZMOE_NO_BUFFER || offset > rt->plan.buffers[b].size ||
        size > rt->plan.buffers[b].size - offset) {
        zmoe_runtime_errorf(err, "weights: chunk [%llu, +%zu) of layer %u tensor '%s' is outside "
                                 "the planned buffer",
                            (unsigned long long)offset, size, layer, zmoe_tensor_name(t));
        return ZMOE_ERR_WEIGHTS;
    }
    uint8_t *dst = (uint8_t *)zmoe_arena_ptr(&rt->arena, &rt->plan, b) + offset;
    uint8_t *staging = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.staging);
    const uint8_t *src = bytes;
    if (src < staging || src + size > staging + rt->ids.staging_bytes) {
        /* The loader normally hands out bytes inside the staging buffer (host-visible,
         * so the device copies straight from it); anything else is staged first. */
        if (size > rt->ids.staging_bytes) {
            zmoe_runtime_errorf(err, "weights: chunk of %zu bytes exceeds the staging buffer", size);
            return ZMOE_ERR_WEIGHTS;
        }
        memcpy(staging, bytes, size);
        src = staging;
    }
    ze_command_list_handle_t list = rt->upload_list;
    ZE_CHECK(zeCommandListReset(list), "resetting the upload list (layer %u '%s')", layer,
             zmoe_tensor_name(t));
    ZE_CHECK(zeCommandListAppendMemoryCopy(list, dst, src, size, NULL, 0, NULL),
             "recording the upload of layer %u '%s' at %llu", layer, zmoe_tensor_name(t),
             (unsigned long long)offset);
    ZE_CHECK(zeCommandListClose(list), "closing the upload list");
    ZE_CHECK(zeCommandQueueExecuteCommandLists(rt->queue, 1, &list, rt->upload_fence),
             "uploading layer %u '%s'", layer, zmoe_tensor_name(t));
    ZE_CHECK(zeFenceHostSynchronize(rt->upload_fence, UPLOAD_TIMEOUT_NS),
             "waiting for the upload of layer %u '%s'", layer, zmoe_tensor_name(t));
    ZE_CHECK(zeFenceReset(rt->upload_fence), "resetting the upload fence");
    return ZMOE_OK;
}

enum zmoe_status zmoe_runtime_zero_buffer(struct zmoe_runtime *rt, uint32_t buffer,
                                          struct zmoe_error *err)
{
    const struct zmoe_buffer *b = &rt->plan.buffers[buffer];
    const uint8_t zero = 0;
    ze_command_list_handle_t list = rt->upload_list;
    ZE_CHECK(zeCommandListReset(list), "resetting the upload list (zeroing %s)", b->name);
    ZE_CHECK(zeCommandListAppendMemoryFill(list, zmoe_arena_ptr(&rt->arena, &rt->plan, buffer),
                                           &zero, 1, b->size, NULL, 0, NULL),
             "recording the zeroing of %s (%llu bytes)", b->name, (unsigned long long)b->size);
    ZE_CHECK(zeCommandListClose(list), "closing the upload list");
    ZE_CHECK(zeCommandQueueExecuteCommandLists(rt->queue, 1, &list, rt->upload_fence),
             "zeroing %s", b->name);
    ZE_CHECK(zeFenceHostSynchronize(rt->upload_fence, UPLOAD_TIMEOUT_NS), "waiting for the zeroing of %s",
             b->name);
    ZE_CHECK(zeFenceReset(rt->upload_fence), "resetting the upload fence");
    return ZMOE_OK;
}

enum zmoe_status zmoe_runtime_upload_weights(struct zmoe_runtime *rt, struct zmoe_error *err)
{
    void *staging = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.staging);
    rt->weights_report[0] = '\0';
    return zmoe_weights_load(&rt->cfg, staging, rt->ids.staging_bytes, sink, rt,
                             rt->weights_report, sizeof rt->weights_report, err);
}

/* The act-order permutations of a layer from the caller's host memory: the kernels
 * gather x[perm[c']] unchecked (a bound per gather costs registers on Intel's SIMD8
 * targets), so every value must be a column, as the safetensors loader checks g_idx. */
enum zmoe_status zmoe_runtime_check_upload(const struct zmoe_runtime *rt, uint32_t layer,
                                           const struct zmoe_layer_weights *host,
                                           struct zmoe_error *err)
{
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        struct zmoe_qmatrix m;
        if (!host->tensor[t] || !zmoe_quant_matrix(&rt->cfg, (enum zmoe_tensor)t, &m) ||
            !m.has_perm)
            continue;
        uint32_t v;
        for (uint64_t i = 0; i < m.perm_sets * m.cols; i++) {
            memcpy(&v, (const uint8_t *)host->tensor[t] + m.perm_offset + i * 4, 4);
            if (v >= m.cols) {
                zmoe_runtime_errorf(err, "zmoe_upload_layer_weights: layer %u tensor '%s': "
                                         "perm[%llu][%llu] = %u, expected a column < %llu",
                                    layer, zmoe_tensor_name((enum zmoe_tensor)t),
                                    (unsigned long long)(i / m.cols),
                                    (unsigned long long)(i % m.cols), v,
                                    (unsigned long long)m.cols);
                return ZMOE_ERR_ARGUMENT;
            }
        }
    }
    return ZMOE_OK;
}

enum zmoe_status zmoe_runtime_upload_layer(struct zmoe_runtime *rt, uint32_t layer,
                                           const struct zmoe_layer_weights *host,
                                           struct zmoe_error *err)
{
    /* The caller's host memory is not host-visible Level Zero memory: every chunk is
     * staged (sink copies it into the staging buffer first). */
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        const enum zmoe_tensor tensor = (enum zmoe_tensor)t;
        if (!zmoe_tensor_present(&rt->cfg, tensor))
            continue;
        const uint8_t *src = host->tensor[t];
        const uint64_t bytes = zmoe_tensor_bytes(&rt->cfg, tensor);
        for (uint64_t off = 0; off < bytes; off += rt->ids.staging_bytes) {
            const uint64_t left = bytes - off;
            const size_t n = (size_t)(left < rt->ids.staging_bytes ? left : rt->ids.staging_bytes);
            enum zmoe_status st = sink(rt, layer, tensor, off, src + off, n, err);
            if (st)
                return st;
        }
    }
    return ZMOE_OK;
}

enum zmoe_status zmoe_runtime_upload_chunk(struct zmoe_runtime *rt, uint32_t layer,
                                           enum zmoe_tensor t, uint64_t offset, const void *bytes,
                                           size_t size, struct zmoe_error *err)
{
    return sink(rt, layer, t, offset, bytes, size, err);
}
