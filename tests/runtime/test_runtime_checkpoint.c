/* zmoe_load_weights from a safetensors checkpoint (Hugging Face Mixtral names, f32 in the
 * file, bf16 in the arena): tensors larger than the 4 MiB staging buffer stream in
 * several chunks through the runtime's sink, and both layers compute what the
 * reference computes from the same values. */
#include "rt_util.h"

#include "tests/weights/st_writer.h"

#include <stdio.h>
#include <unistd.h>

enum { H = 512, I = 1024, E = 4, K = 2, L = 2, T = 3 };

static float frand(uint64_t *s)
{
    return (float)((rt_uniform(s) - 0.5) * 2.0 / 22.6); /* ~1/sqrt(H) */
}

static float bf16(float v)
{
    return zmoe_bf16_to_f32(zmoe_f32_to_bf16(v));
}

int main(void)
{
    char dir[] = "/tmp/zmoe-rt-ckpt-XXXXXX";
    if (!mkdtemp(dir))
        tap_bail("mkdtemp failed");
    char path[256];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);

    /* checkpoint tensors, and the reference's kernel-layout copies (bf16-rounded) */
    struct stw_tensor *ts = calloc(L * (1 + 3 * E), sizeof *ts);
    float *router[L], *w13[L], *w2[L];
    uint64_t s = 12345;
    size_t n = 0;
    for (int l = 0; l < L; l++) {
        router[l] = malloc((size_t)E * H * 4);
        w13[l] = malloc((size_t)E * 2 * I * H * 4);
        w2[l] = malloc((size_t)E * H * I * 4);
        float *gate = malloc((size_t)E * H * 4);
        for (size_t i = 0; i < (size_t)E * H; i++)
            router[l][i] = bf16(gate[i] = frand(&s) * 8);
        ts[n] = (struct stw_tensor){.dtype = "F32", .ndim = 2, .shape = {E, H}, .data = gate,
                                    .bytes = (size_t)E * H * 4};
        snprintf(ts[n++].name, sizeof ts[0].name, "model.layers.%d.block_sparse_moe.gate.weight", l);
        for (int e = 0; e < E; e++) {
            static const char *const names[3] = {"w1", "w3", "w2"};
            for (int m = 0; m < 3; m++) {
                size_t cnt = (size_t)I * H;
                float *v = malloc(cnt * 4);
                for (size_t i = 0; i < cnt; i++)
                    v[i] = frand(&s);
                /* w1 = gate rows [0,I), w3 = up rows [I,2I) of W13[e]; w2 is [H][I] */
                float *dst = m < 2 ? w13[l] + ((size_t)e * 2 * I + (size_t)m * I) * H
                                   : w2[l] + (size_t)e * H * I;
                for (size_t i = 0; i < cnt; i++)
                    dst[i] = bf16(v[i]);
                ts[n] = (struct stw_tensor){.dtype = "F32", .ndim = 2, .data = v, .bytes = cnt * 4};
                ts[n].shape[0] = m < 2 ? I : H;
                ts[n].shape[1] = m < 2 ? H : I;
                snprintf(ts[n++].name, sizeof ts[0].name, "model.layers.%d.block_sparse_moe.experts.%d.%s.weight",
                         l, e, names[m]);
            }
        }
    }
    if (stw_write(path, ts, n, NULL) != 0)
        tap_bail("cannot write %s", path);

    struct zmoe_config c = rt_base_config();
    c.model.hidden = H;
    c.model.intermediate = I;
    c.model.experts = E;
    c.model.top_k = K;
    c.model.layers = L;
    c.dtype.weights = ZMOE_DTYPE_BF16;
    snprintf(c.weights.file, sizeof c.weights.file, "%s", path);
    c.weights.layout = ZMOE_LAYOUT_MIXTRAL;
    snprintf(c.weights.prefix, sizeof c.weights.prefix, "model.layers.");

    struct zmoe_buffer *b = calloc(zmoe_runtime_max_buffers(&c), sizeof *b);
    struct zmoe_plan plan;
    struct zmoe_runtime_buffers ids;
    struct zmoe_error err;
    zmoe_plan_init(&plan, b, zmoe_runtime_max_buffers(&c));
    zmoe_runtime_plan(&c, &plan, &ids, &err);
    uint64_t w13_bytes = b[zmoe_runtime_weight_buffer(&ids, 0, ZMOE_TENSOR_W13)].size;
    TAP_OK(w13_bytes >= 2 * ids.staging_bytes, "W13 (%llu bytes) needs at least two %llu-byte staging chunks",
           (unsigned long long)w13_bytes, (unsigned long long)ids.staging_bytes);
    free(b);

    struct zmoe_runtime *rt = rt_create(&c, "checkpoint");
    TAP_OK(rt != NULL, "create + load_weights from %s", path);
    float *x = rt_inputs(&c, T, 5), y[T * H], ref[T * H];
    for (uint32_t l = 0; l < L && rt; l++) {
        struct zmoe_ref_weights w = {{0}};
        w.tensor[ZMOE_TENSOR_ROUTER_W] = router[l];
        w.tensor[ZMOE_TENSOR_W13] = w13[l];
        w.tensor[ZMOE_TENSOR_W2] = w2[l];
        zmoe_ref_forward(&c, &w, x, T, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
        enum zmoe_status st = rt_forward(rt, &c, l, x, T, y);
        double rel = rt_rel_error(y, ref, (size_t)T * H, NULL);
        TAP_OK(st == ZMOE_OK && rel <= 1e-4, "layer %u from the checkpoint matches the reference (rel %.3g)",
               l, rel);
    }
    zmoe_destroy(rt);
    unlink(path);
    rmdir(dir);
    for (size_t i = 0; i < n; i++)
        free((void *)ts[i].data);
    free(ts);
    for (int l = 0; l < L; l++) {
        free(router[l]);
        free(w13[l]);
        free(w2[l]);
    }
    free(x);
    return tap_exit();
}
