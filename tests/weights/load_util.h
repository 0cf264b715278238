/* Helpers shared by the loader tests (safetensors, quant_load, geometry): a config of
 * each checkpoint layout, and a weights sink into host memory. Test code: malloc is fine. */
#ifndef ZMOE_TEST_LOAD_UTIL_H
#define ZMOE_TEST_LOAD_UTIL_H

#include "tests/tap.h"
#include "weights/weights.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* E experts of H x I, top-2, `layers` MoE layers, bf16 weights in `lay`, with the routing
 * each family's modeling code fixes (the loader checks it). */
static inline struct zmoe_config load_layout_config(enum zmoe_weights_layout lay, uint32_t E,
                                                    uint32_t H, uint32_t I, uint32_t layers)
{
    struct zmoe_config c = {
        .model = {.experts = E, .hidden = H, .intermediate = I, .top_k = 2, .layers = layers},
        .router = {.groups = 1, .routed_scaling_factor = 1},
        .dtype = {.weights = ZMOE_DTYPE_BF16},
        .weights = {.layout = lay},
    };
    switch (lay) {
    case ZMOE_LAYOUT_LLAMA4:
        c.router.scoring = ZMOE_SCORING_SIGMOID;
        c.router.apply_router_weight_on_input = true;
        break;
    case ZMOE_LAYOUT_MIXTRAL:
        c.router.renormalize = true;
        break;
    case ZMOE_LAYOUT_GPT_OSS:
        c.router.renormalize = true;
        c.experts.activation = ZMOE_ACT_SWIGLU_OAI;
        c.experts.swiglu_alpha = 1.702f;
        c.experts.swiglu_limit = 7.0f;
        c.experts.gate_up_interleaved = true;
        break;
    default:
        break;
    }
    return c;
}

/* The sink: one buffer per (layer, tensor) of the config, filled with 0xA5 so that bytes
 * the loader never wrote (padding included) compare unequal; a chunk out of order or out
 * of bounds, or for a tensor the config lacks, counts as bad. */
#define MEM_SINK_LAYERS 4
struct mem_sink {
    unsigned char *buf[MEM_SINK_LAYERS][ZMOE_TENSOR_COUNT];
    uint64_t size[MEM_SINK_LAYERS][ZMOE_TENSOR_COUNT], next[MEM_SINK_LAYERS][ZMOE_TENSOR_COUNT];
    int bad, calls;
    size_t max_chunk;
};

static inline void mem_sink_init(struct mem_sink *s, const struct zmoe_config *c)
{
    memset(s, 0, sizeof *s);
    for (uint32_t l = 0; l < c->model.layers && l < MEM_SINK_LAYERS; l++)
        for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
            if (zmoe_tensor_present(c, (enum zmoe_tensor)t)) {
                s->size[l][t] = zmoe_tensor_bytes(c, (enum zmoe_tensor)t);
                s->buf[l][t] = malloc(s->size[l][t] + 1);
                if (!s->buf[l][t])
                    tap_bail("out of memory");
                memset(s->buf[l][t], 0xA5, s->size[l][t]);
            }
}

static inline void mem_sink_free(struct mem_sink *s)
{
    for (int l = 0; l < MEM_SINK_LAYERS; l++)
        for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
            free(s->buf[l][t]);
}

/* The loader's sink callback; ctx is a struct mem_sink. */
static inline enum zmoe_status mem_sink_write(void *ctx, uint32_t layer, enum zmoe_tensor t,
                                              uint64_t offset, const void *bytes, size_t size,
                                              struct zmoe_error *err)
{
    struct mem_sink *s = ctx;
    (void)err;
    s->calls++;
    if (size > s->max_chunk)
        s->max_chunk = size;
    if (layer >= MEM_SINK_LAYERS || !s->buf[layer][t] || offset != s->next[layer][t] ||
        offset + size > s->size[layer][t]) {
        s->bad++;
        return ZMOE_OK;
    }
    memcpy(s->buf[layer][t] + offset, bytes, size);
    s->next[layer][t] += size;
    return ZMOE_OK;
}

#endif
