/* zmoe plan --devices N on every full-size example (N = 1, 2, 4, 8): the JSON parallel
 * section against independent arithmetic (each device's experts, the weights summing to
 * one device's plus the replicated router on every other device, the bytes moved per
 * layer call), and the text form labelled as an estimate with its named links. */
#include "tests/cli/cli_test.h"
#include "tests/cli/json_test.h"
#include "weights/weights.h"
#include "zmoe_parallel.h"

#include <dirent.h>

static const char *exe;

static uint64_t tb(const struct zmoe_config *c, enum zmoe_tensor t)
{
    return zmoe_tensor_present(c, t) ? zmoe_tensor_bytes(c, t) : 0;
}

static void check(const char *path)
{
    struct zmoe_config c;
    struct zmoe_error err;
    if (!TAP_OK(zmoe_config_load(path, &c, &err) == ZMOE_OK, "%s loads", path))
        return;
    const uint64_t replicated = (tb(&c, ZMOE_TENSOR_ROUTER_W) + tb(&c, ZMOE_TENSOR_ROUTER_B) +
                                 tb(&c, ZMOE_TENSOR_SCORE_BIAS) + tb(&c, ZMOE_TENSOR_SHARED_GATE)) *
                                c.model.layers;
    double one = 0;
    static const char *const ns[] = {"1", "2", "4", "8"};
    for (int i = 0; i < 4; i++) {
        const uint32_t N = (uint32_t)(1u << i);
        struct cli_result r = CLI_RUN((char *)exe, "plan", (char *)path, "--devices", (char *)ns[i], "--json");
        if (c.model.experts % N) {
            /* the implicit map needs N to divide the experts: refused, with the reason */
            TAP_OK(r.status == 2 && cli_has(r.err, "do not divide"), "%s --devices %u: refused (%u "
                                                                     "experts)", path, N, c.model.experts);
            cli_result_free(&r);
            continue;
        }
        struct json j = json_parse(r.out);
        int par = j.n > 0 ? json_get(&j, 0, "parallel") : -1;
        if (!TAP_OK((r.status == 0 || r.status == 2) && par >= 0, "%s --devices %u: JSON with a parallel "
                                                                   "section", path, N)) {
            cli_diag(&r);
            cli_result_free(&r);
            json_free(&j);
            continue;
        }
        int shares = json_get(&j, par, "shares");
        bool shape = json_num(&j, json_get(&j, par, "devices")) == N && shares >= 0 &&
                     j.t[shares].size == (int)N;
        TAP_OK(shape, "%s --devices %u: one share per device", path, N);
        double experts = 0, weights = 0, partial = 0, input = 0;
        bool even = true;
        for (uint32_t d = 0; shape && d < N; d++) {
            int s = json_at(&j, shares, (int)d);
            double e = json_num(&j, json_get(&j, s, "experts"));
            even = even && e == c.model.experts / N &&
                   json_num(&j, json_get(&j, s, "first_expert")) == d * (c.model.experts / N);
            experts += e;
            weights += json_num(&j, json_get(&j, s, "weight_bytes"));
            partial += json_num(&j, json_get(&j, s, "partial_bytes"));
            input = json_num(&j, json_get(&j, s, "input_bytes"));
        }
        if (N == 1)
            one = weights;
        TAP_OK(experts == c.model.experts && even, "%s --devices %u: contiguous equal shares of %u experts",
               path, N, c.model.experts);
        TAP_OK(weights == one + (double)(N - 1) * (double)replicated,
               "%s --devices %u: weights = one device's + the router on %u more", path, N, N - 1);
        const double x = (double)c.runtime.max_tokens * c.model.hidden * zmoe_dtype_size(c.dtype.activations);
        const double p = (double)c.runtime.max_tokens * c.model.hidden * 4;
        const double comm = json_num(&j, json_get(&j, par, "comm_bytes_per_layer"));
        TAP_OK(input == x && partial == (N - 1) * p && comm == (N > 1 ? N * x + (N - 1) * p : 0),
               "%s --devices %u: x to every device, N-1 f32 partials to device 0", path, N);
        int roof = json_get(&j, par, "roofline_estimate");
        TAP_OK(roof >= 0 && j.t[roof].size >= 9 && json_is(&j, json_get(&j, par, "estimate"), "true"),
               "%s --devices %u: estimate per GPU and link", path, N);
        cli_result_free(&r);
        json_free(&j);
    }
    struct cli_result r = CLI_RUN((char *)exe, "plan", (char *)path, "--devices", "2");
    TAP_OK(cli_has(r.out, "expert parallel over 2 devices") && cli_has(r.out, "an estimate, not a measurement") &&
               cli_has(r.out, "PCIe 4.0 x16") && cli_has(r.out, "PCIe 5.0 x16") && cli_has(r.out, "Xe Link"),
           "%s --devices 2: text section, labelled an estimate, named links", path);
    cli_result_free(&r);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        tap_bail("usage: test_plan_devices ZMOE EXAMPLES_DIR");
    exe = argv[1];
    DIR *d = opendir(argv[2]);
    if (!d)
        tap_bail("cannot open %s", argv[2]);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".conf") || strstr(de->d_name, "-mini") ||
            !strcmp(de->d_name, "default.conf"))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", argv[2], de->d_name);
        check(path);
        n++;
    }
    closedir(d);
    TAP_OK(n >= 5, "%d full-size examples", n);
    char mix[1024];
    snprintf(mix, sizeof mix, "%s/mixtral-8x7b.conf", argv[2]);
    struct cli_result r = CLI_RUN((char *)exe, "plan", mix, "--devices", "3");
    TAP_OK(r.status == 2 && cli_has(r.err, "do not divide 8 experts"), "--devices 3 on 8 experts: exit 2, "
                                                                       "message");
    cli_result_free(&r);
    return tap_exit();
}
