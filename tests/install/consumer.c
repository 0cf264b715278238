/* A user's program, built against the *installed* zmoe.h and zmoe.pc only: it runs one
 * MoE layer call on a config given in code and prints TAP. */
#include <zmoe.h>

#include <stdio.h>
#include <string.h>

static const char config_text[] =
    "[model]\nhidden = 64\nintermediate = 32\nexperts = 4\ntop_k = 2\nlayers = 1\n"
    "[router]\nscoring = softmax\nrenormalize = true\n"
    "[experts]\nactivation = silu\n"
    "[dtype]\nweights = f32\n"
    "[runtime]\nmax_tokens = 2\nring_depth = 2\ndevice = host\n";

static int step(int n, int ok, const char *what, const struct zmoe_error *err)
{
    printf("%sok %d - %s\n", ok ? "" : "not ", n, what);
    if (!ok && err)
        printf("# %s\n", err->msg);
    return ok;
}

int main(void)
{
    struct zmoe_error err = { { 0 } };
    struct zmoe_config cfg;
    struct zmoe_runtime *rt = NULL;
    struct zmoe_slot slot;
    printf("TAP version 13\n1..5\n");
    int ok = step(1, zmoe_config_parse(config_text, strlen(config_text), "consumer", &cfg, &err) == ZMOE_OK,
                  "config parsed", &err);
    struct zmoe_create_info info = { .config = &cfg };
    ok = ok && step(2, zmoe_create(&info, &rt, &err) == ZMOE_OK, "runtime created", &err);
    ok = ok && step(3, zmoe_load_weights(rt, &err) == ZMOE_OK, "synthetic weights loaded", &err);
    ok = ok && step(4, zmoe_slot_acquire(rt, &slot, &err) == ZMOE_OK, "slot acquired", &err);
    if (ok) {
        float *x = slot.input_host, *y = slot.output_host;
        for (int i = 0; i < 64; i++)
            x[i] = (float)(i % 7) / 7.0f - 0.5f;
        ok = zmoe_submit(rt, &slot, 0, 1, &err) == ZMOE_OK && zmoe_wait(rt, &slot, UINT64_MAX, &err) == ZMOE_OK;
        float energy = 0;
        for (int i = 0; ok && i < 64; i++)
            energy += y[i] * y[i];
        step(5, ok && energy > 0, "one layer call produced a non-zero output", &err);
    } else {
        for (int n = 4; n <= 5; n++)
            printf("not ok %d - skipped after an earlier failure\n", n);
    }
    zmoe_destroy(rt);
    return ok ? 0 : 1;
}
