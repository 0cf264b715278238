/* zmoe plan on every example config (full-size ones included: plan allocates no
 * arena), its JSON form, the bytes-per-step arithmetic, and an over-budget config. */
#include "tests/cli/cli_test.h"
#include "tests/cli/json_test.h"
#include "weights/weights.h"

#include <math.h>

static const char *exe;

static uint64_t align64(uint64_t v) { return (v + 63) / 64 * 64; }

/* A quantized matrix's bytes from the contract (quant-spec / weights/quant.h), written
 * here again rather than taken from zmoe_quant_matrix: codes rows x cols x bits / 8,
 * then scales, zero points and the act-order permutation, each part 64-byte aligned. */
static uint64_t quant_bytes(const struct zmoe_config *c, enum zmoe_tensor t)
{
    uint64_t E = c->model.experts, H = c->model.hidden, I = c->model.intermediate;
    uint64_t S = (uint64_t)c->model.shared_experts * c->model.shared_intermediate;
    uint64_t rows, cols, sets;
    if (t == ZMOE_TENSOR_W13)
        rows = E * 2 * I, cols = H, sets = E;
    else if (t == ZMOE_TENSOR_W2)
        rows = E * H, cols = I, sets = E;
    else if (t == ZMOE_TENSOR_SHARED_W13 && c->quant.shared_experts)
        rows = 2 * S, cols = H, sets = 1;
    else if (t == ZMOE_TENSOR_SHARED_W2 && c->quant.shared_experts)
        rows = H, cols = S, sets = 1;
    else
        return 0;
    enum zmoe_quant_format f = c->quant.format;
    uint64_t bits = f == ZMOE_QUANT_INT4 || f == ZMOE_QUANT_MXFP4 ? 4 : 8;
    uint64_t g = c->quant.group_size ? c->quant.group_size : cols;
    uint64_t rb = f == ZMOE_QUANT_FP8 && c->quant.group_size ? 128 : 1;
    uint64_t ss = c->quant.scale_dtype == ZMOE_SCALE_F32    ? 4
                  : c->quant.scale_dtype == ZMOE_SCALE_E8M0 ? 1
                                                            : 2;
    uint64_t end = rows * cols * bits / 8;
    end = align64(end) + rows / rb * (cols / g) * ss;
    if (c->quant.zero_points)
        end = align64(end) + rows * (cols / g);
    if (c->quant.act_order)
        end = align64(end) + sets * cols * 4;
    return end;
}

static uint64_t tensor_bytes(const struct zmoe_config *cfg, enum zmoe_tensor t)
{
    if (!zmoe_tensor_present(cfg, t))
        return 0;
    if (cfg->quant.format != ZMOE_QUANT_NONE && quant_bytes(cfg, t))
        return quant_bytes(cfg, t);
    return zmoe_tensor_elements(cfg, t) * zmoe_dtype_size(zmoe_tensor_dtype(cfg, t));
}

static void check_example(const char *path)
{
    struct zmoe_config cfg;
    struct zmoe_error err;
    if (!TAP_OK(zmoe_config_load(path, &cfg, &err) == ZMOE_OK, "%s loads", path)) {
        tap_diag("%s", err.msg);
        return;
    }
    struct cli_result r = CLI_RUN((char *)exe, "plan", (char *)path);
    bool within = r.status == 0 && cli_has(r.out, "within budget");
    bool over = r.status == 2 && cli_has(r.out, "OVER BUDGET") && cli_has(r.err, path);
    if (!TAP_OK(within || over, "plan %s: exit 0 within budget or 2 over it", path))
        cli_diag(&r);
    if (!TAP_OK(cli_has(r.out, "bytes moved per decode step") &&
                    cli_has(r.out, "roofline estimate") && cli_has(r.out, "Arc A770") &&
                    cli_has(r.out, "budget:"),
                "plan %s: map, budget, bytes per step and roofline sections", path))
        cli_diag(&r);
    cli_result_free(&r);

    r = CLI_RUN((char *)exe, "plan", (char *)path, "--json");
    struct json j = json_parse(r.out);
    if (!TAP_OK(j.n > 0 && j.t[0].type == JSMN_OBJECT, "plan --json %s is one JSON object", path)) {
        cli_diag(&r);
        cli_result_free(&r);
        json_free(&j);
        return;
    }
    int plan = json_get(&j, 0, "plan"), buffers = json_get(&j, plan, "buffers");
    TAP_OK(buffers >= 0 && j.t[buffers].type == JSMN_ARRAY && j.t[buffers].size > 0,
           "%s: plan.buffers is a non-empty array", path);
    int per_layer = json_get(&j, 0, "bytes_per_layer");
    double step = json_num(&j, json_get(&j, 0, "bytes_per_step"));
    double total = json_num(&j, json_get(&j, per_layer, "total"));
    double router = json_num(&j, json_get(&j, per_layer, "router"));
    double experts = json_num(&j, json_get(&j, per_layer, "experts"));
    double shared = json_num(&j, json_get(&j, per_layer, "shared"));
    /* Independent arithmetic from the config and the weights geometry. */
    uint64_t want_router = tensor_bytes(&cfg, ZMOE_TENSOR_ROUTER_W) +
                           tensor_bytes(&cfg, ZMOE_TENSOR_ROUTER_B) +
                           tensor_bytes(&cfg, ZMOE_TENSOR_SCORE_BIAS);
    uint64_t all_experts = tensor_bytes(&cfg, ZMOE_TENSOR_W13) + tensor_bytes(&cfg, ZMOE_TENSOR_W2) +
                           tensor_bytes(&cfg, ZMOE_TENSOR_B13) + tensor_bytes(&cfg, ZMOE_TENSOR_B2);
    uint64_t want_experts = all_experts / cfg.model.experts * cfg.model.top_k;
    uint64_t want_shared = tensor_bytes(&cfg, ZMOE_TENSOR_SHARED_W13) +
                           tensor_bytes(&cfg, ZMOE_TENSOR_SHARED_W2) +
                           tensor_bytes(&cfg, ZMOE_TENSOR_SHARED_GATE);
    TAP_OK(router == (double)want_router && experts == (double)want_experts &&
               shared == (double)want_shared,
           "%s: weight bytes per layer = router + top_k experts' W13/W2 + shared", path);
    TAP_OK(total > router + experts + shared && step == total * cfg.model.layers,
           "%s: per step = layers x per layer, activations included", path);
    int roof = json_get(&j, 0, "roofline_estimate");
    bool roof_ok = roof >= 0 && j.t[roof].size >= 4;
    for (int g = 0; roof_ok && g < j.t[roof].size; g++) {
        int e = json_at(&j, roof, g);
        double bw = json_num(&j, json_get(&j, e, "bandwidth_gbps"));
        double us = json_num(&j, json_get(&j, e, "step_us"));
        roof_ok = bw > 0 && fabs(us - step / (bw * 1e9) * 1e6) <= 1e-3 + 1e-9 * us;
    }
    TAP_OK(roof_ok, "%s: roofline step time = bytes per step / bandwidth", path);
    int budget = json_get(&j, 0, "budget");
    int within_tok = json_get(&j, budget, "within");
    TAP_OK(within_tok >= 0 && json_is(&j, within_tok, within ? "true" : "false"),
           "%s: JSON budget verdict matches the text one", path);
    /* Needs = the planned block sizes (+ the host block for host), as the report says. */
    int mems = json_get(&j, plan, "memories");
    double dev_size = -1, host_size = -1;
    for (int m = 0; mems >= 0 && m < j.t[mems].size; m++) {
        int e = json_at(&j, mems, m);
        if (json_str_eq(&j, json_get(&j, e, "memory"), "device"))
            dev_size = json_num(&j, json_get(&j, e, "size"));
        else
            host_size = json_num(&j, json_get(&j, e, "size"));
    }
    double host_block = json_num(&j, json_get(&j, 0, "host_block_bytes"));
    TAP_OK(dev_size > 0 && json_num(&j, json_get(&j, budget, "device_needed")) == dev_size &&
               host_block > 0 &&
               json_num(&j, json_get(&j, budget, "host_needed")) == host_size + host_block,
           "%s: budget needs = device block, host-visible block + host block", path);
    json_free(&j);
    cli_result_free(&r);
}

/* Quantized examples: Llama 4 Scout in int4 fits a Data Center GPU Max 1550 and the plan
 * says so; the JSON's per-tensor parts add up to the contract's sizes and the float
 * comparison is the same model in dtype.weights. */
static void check_quant_plans(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/llama4-scout-int4.conf", dir);
    struct cli_result r = CLI_RUN((char *)exe, "plan", path);
    if (!TAP_OK(r.status == 0 && cli_has(r.out, "quantized experts: int4, packing compressed_tensors") &&
                    cli_has(r.out, "fits on: Data Center GPU Max 1550 (128.00 GiB)") &&
                    !cli_has(r.out, "Arc A770 16GB (16"),
                "plan llama4-scout-int4: within budget, fits on a Data Center GPU Max 1550 "
                "(and no 16 GB Arc) and says so"))
        cli_diag(&r);
    cli_result_free(&r);
    static const char *const names[] = {"llama4-scout-int4", "qwen3-30b-a3b-int4",
                                        "gpt-oss-20b-mxfp4", "deepseek-v3-fp8",
                                        "qwen3-30b-a3b-int4-mini"};
    static const double max_ratio[] = {0.27, 0.27, 0.27, 0.51, 0.30}; /* weights vs float */
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        snprintf(path, sizeof path, "%s/%s.conf", dir, names[n]);
        struct zmoe_config cfg;
        struct zmoe_error err;
        if (!TAP_OK(zmoe_config_load(path, &cfg, &err) == ZMOE_OK, "%s loads", names[n])) {
            tap_diag("%s", err.msg);
            continue;
        }
        r = CLI_RUN((char *)exe, "plan", path, "--json");
        struct json j = json_parse(r.out);
        int q = j.n > 0 ? json_get(&j, 0, "quant") : -1;
        int ts = q >= 0 ? json_get(&j, q, "tensors") : -1;
        bool ok = ts >= 0 && j.t[ts].size >= 2;
        double layer_q = 0;
        for (int i = 0; ok && i < j.t[ts].size; i++) {
            int e = json_at(&j, ts, i);
            double parts = json_num(&j, json_get(&j, e, "codes_bytes")) +
                           json_num(&j, json_get(&j, e, "scales_bytes")) +
                           json_num(&j, json_get(&j, e, "zeros_bytes")) +
                           json_num(&j, json_get(&j, e, "perm_bytes"));
            double bytes = json_num(&j, json_get(&j, e, "bytes"));
            /* parts plus at most 3 alignment gaps of < 64 bytes */
            ok = bytes >= parts && bytes < parts + 3 * 64;
            layer_q += bytes;
        }
        uint64_t want = 0;
        for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
            if (t == ZMOE_TENSOR_W13 || t == ZMOE_TENSOR_W2 || t == ZMOE_TENSOR_SHARED_W13 ||
                t == ZMOE_TENSOR_SHARED_W2)
                want += quant_bytes(&cfg, (enum zmoe_tensor)t);
        TAP_OK(ok && layer_q == (double)want,
               "%s: JSON quant tensors: parts add up, per layer %.0f = contract %llu", names[n],
               layer_q, (unsigned long long)want);
        struct zmoe_config fl = cfg;
        memset(&fl.quant, 0, sizeof fl.quant);
        fl.quant.shared_experts = true;
        uint64_t fw = 0, qw = 0;
        for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
            fw += tensor_bytes(&fl, (enum zmoe_tensor)t);
            qw += tensor_bytes(&cfg, (enum zmoe_tensor)t);
        }
        fw *= cfg.model.layers, qw *= cfg.model.layers;
        double jq = q >= 0 ? json_num(&j, json_get(&j, q, "weight_bytes")) : -1;
        double jf = q >= 0 ? json_num(&j, json_get(&j, q, "float_weight_bytes")) : -1;
        TAP_OK(jq == (double)qw && jf == (double)fw && jq / jf <= max_ratio[n],
               "%s: weights %.0f vs float %.0f (ratio %.3f <= %.2f)", names[n], jq, jf,
               jf > 0 ? jq / jf : 0.0, max_ratio[n]);
        /* "formats": the same geometry per format; float and this config's own row agree
         * with the numbers above, and the int4 row is a quarter of float or less */
        int fs = json_get(&j, 0, "formats");
        double f_float = -1, f_own = -1, f_int4 = -1;
        for (int i = 0; fs >= 0 && i < j.t[fs].size; i++) {
            int e = json_at(&j, fs, i);
            double wb = json_num(&j, json_get(&j, e, "weight_bytes"));
            if (json_str_eq(&j, json_get(&j, e, "format"), "float"))
                f_float = wb;
            if (json_str_eq(&j, json_get(&j, e, "format"), "int4 group 128, f16 scales"))
                f_int4 = wb;
            if (json_is(&j, json_get(&j, e, "this_config"), "true"))
                f_own = wb;
        }
        TAP_OK(f_float == (double)fw && f_own == (double)qw &&
                   (f_int4 < 0 || f_int4 <= 0.27 * f_float),
               "%s: JSON formats: float %.0f, this config %.0f, int4 g128 %.0f", names[n], f_float,
               f_own, f_int4);
        json_free(&j);
        cli_result_free(&r);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3)
        tap_bail("usage: %s ZMOE_EXE EXAMPLES_DIR", argv[0]);
    exe = argv[1];
    DIR *d = opendir(argv[2]);
    if (!d)
        tap_bail("cannot open %s", argv[2]);
    struct dirent *e;
    int n = 0;
    char paths[64][512];
    while ((e = readdir(d)) && n < 64) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".conf"))
            snprintf(paths[n++], sizeof paths[0], "%s/%s", argv[2], e->d_name);
    }
    closedir(d);
    TAP_OK(n >= 2, "found %d example configs", n);
    bool full_size = false;
    for (int i = 0; i < n; i++) {
        check_example(paths[i]);
        full_size = full_size || (!strstr(paths[i], "mini") && !strstr(paths[i], "default"));
    }
    TAP_OK(full_size, "full-size examples among them");
    check_quant_plans(argv[2]);

    /* Over budget: default.conf with a device budget of its weights' bytes + 1, which
     * the config validator accepts (weights alone fit) but the plan, which adds
     * activations and slot I/O, exceeds. */
    struct zmoe_config dcfg;
    struct zmoe_error derr;
    char def0[600];
    snprintf(def0, sizeof def0, "%s/default.conf", argv[2]);
    if (zmoe_config_load(def0, &dcfg, &derr) != ZMOE_OK)
        tap_bail("%s", derr.msg);
    uint64_t weights = 0;
    for (uint32_t l = 0; l < dcfg.model.layers; l++)
        for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
            weights += tensor_bytes(&dcfg, (enum zmoe_tensor)t);
    char budget_line[64];
    snprintf(budget_line, sizeof budget_line, "device_bytes = %llu", (unsigned long long)weights + 1);
    char def[600];
    snprintf(def, sizeof def, "%s/default.conf", argv[2]);
    char *text = cli_read_file(def, NULL);
    if (!text)
        tap_bail("cannot read %s", def);
    char *over = malloc(strlen(text) + 64), *line = strstr(text, "device_bytes");
    if (line) {
        char *eol = strchr(line, '\n');
        snprintf(over, strlen(text) + 64, "%.*s%s%s", (int)(line - text), text, budget_line,
                 eol ? eol : "");
    } else {
        snprintf(over, strlen(text) + 64, "%s\n[budget]\n%s\n", text, budget_line);
    }
    const char *path = cli_tmp_path("over-budget.conf");
    cli_write_file(path, over, strlen(over));
    struct cli_result r = CLI_RUN((char *)exe, "plan", (char *)path);
    if (!TAP_OK(r.status == 2 && cli_has(r.out, "OVER BUDGET") && cli_has(r.err, path) &&
                    cli_has(r.err, "budget"),
                "plan over budget: exit 2, verdict on stdout, config path and budget on stderr"))
        cli_diag(&r);
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "run", (char *)path, "--steps", "1");
    if (!TAP_OK(r.status == 2 && cli_has(r.err, "budget"), "run over budget: exit 2 naming the budget"))
        cli_diag(&r);
    cli_result_free(&r);
    free(text);
    free(over);
    cli_tmp_cleanup();
    return tap_exit();
}
