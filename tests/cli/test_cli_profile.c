/* zmoe profile writes a valid Chrome/Perfetto trace: parsed with jsmn, every event
 * has name/ph/ts/pid/tid, complete events have dur >= 0, every track is named (the host
 * submit track and one per device stage), one submit span per layer call. */
#include "tests/cli/cli_test.h"
#include "tests/cli/json_test.h"

int main(int argc, char **argv)
{
    if (argc < 3)
        tap_bail("usage: %s ZMOE_EXE EXAMPLES_DIR", argv[0]);
    const char *exe = argv[1];
    char conf[600];
    snprintf(conf, sizeof conf, "%s/default.conf", argv[2]);
    struct zmoe_config cfg;
    struct zmoe_error err;
    if (zmoe_config_load(conf, &cfg, &err) != ZMOE_OK)
        tap_bail("%s", err.msg);
    const uint32_t steps = 3;

    const char *trace = cli_tmp_path("trace.json");
    struct cli_result r = CLI_RUN((char *)exe, "profile", conf, "--trace", (char *)trace,
                                  "--steps", "3");
    if (!TAP_OK(r.status == 0 && cli_has(r.out, trace), "profile --steps 3 --trace succeeds"))
        cli_diag(&r);
    cli_result_free(&r);

    char *text = cli_read_file(trace, NULL);
    if (!text)
        tap_bail("no trace written");
    struct json j = json_parse(text);
    if (!TAP_OK(j.n > 0 && j.t[0].type == JSMN_OBJECT, "the trace is one JSON object"))
        tap_bail("unparseable trace");
    TAP_OK(json_str_eq(&j, json_get(&j, 0, "displayTimeUnit"), "ns"), "displayTimeUnit is ns");
    int events = json_get(&j, 0, "traceEvents");
    if (!TAP_OK(events >= 0 && j.t[events].type == JSMN_ARRAY && j.t[events].size > 0,
                "traceEvents is a non-empty array"))
        tap_bail("no events");

    /* Track names by tid (small ids), and per-event checks. */
    char track[64][64] = {{0}};
    int bad_fields = 0, bad_dur = 0, unnamed = 0, complete = 0, process_named = 0;
    int submit_tid = -1, per_tid[64] = {0};
    int i = events + 1;
    for (int e = 0; e < j.t[events].size; e++, i = json_skip(&j, i)) {
        int name = json_get(&j, i, "name"), ph = json_get(&j, i, "ph");
        double ts = json_num(&j, json_get(&j, i, "ts")), pid = json_num(&j, json_get(&j, i, "pid")),
               tid = json_num(&j, json_get(&j, i, "tid"));
        if (name < 0 || ph < 0 || j.t[name].type != JSMN_STRING || ts < 0 || pid < 0 || tid < 0 ||
            tid >= 64) {
            bad_fields++;
            continue;
        }
        if (json_str_eq(&j, ph, "M")) {
            int args = json_get(&j, i, "args"), an = json_get(&j, args, "name");
            if (json_str_eq(&j, name, "thread_name") && an >= 0) {
                snprintf(track[(int)tid], sizeof track[0], "%.*s", j.t[an].end - j.t[an].start,
                         text + j.t[an].start);
                if (!strcmp(track[(int)tid], "host submit"))
                    submit_tid = (int)tid;
            }
            if (json_str_eq(&j, name, "process_name") && an >= 0)
                process_named++;
        } else if (json_str_eq(&j, ph, "X")) {
            complete++;
            per_tid[(int)tid]++;
            if (!(json_num(&j, json_get(&j, i, "dur")) >= 0))
                bad_dur++;
        } else {
            bad_fields++; /* only M and X events are expected */
        }
    }
    /* Second pass: every complete event sits on a named track (metadata may come first
     * or last in a trace; this trace writes it first, but the check does not rely on it). */
    i = events + 1;
    for (int e = 0; e < j.t[events].size; e++, i = json_skip(&j, i)) {
        double tid = json_num(&j, json_get(&j, i, "tid"));
        if (json_str_eq(&j, json_get(&j, i, "ph"), "X") && tid >= 0 && tid < 64 &&
            !track[(int)tid][0])
            unnamed++;
    }
    TAP_EQ_INT(bad_fields, 0, "every event has name, ph (M or X), ts, pid and tid");
    TAP_EQ_INT(bad_dur, 0, "every X event has dur >= 0");
    TAP_EQ_INT(unnamed, 0, "every X event is on a named track");
    TAP_OK(process_named == 1, "the process is named");
    TAP_OK(submit_tid >= 0, "a 'host submit' track exists");
    TAP_EQ_INT(submit_tid >= 0 ? per_tid[submit_tid] : -1, steps * cfg.model.layers,
               "one submit span per layer call (steps x layers)");
    for (int s = 0; s < ZMOE_STAGE_COUNT; s++) {
        char want[64];
        snprintf(want, sizeof want, "device %s", zmoe_stage_name((enum zmoe_stage)s));
        int tid = -1;
        for (int t = 0; t < 64; t++)
            if (!strcmp(track[t], want))
                tid = t;
        TAP_OK(tid >= 0 && per_tid[tid] == (int)(steps * cfg.model.layers),
               "track '%s' exists with one span per layer call", want);
    }
    TAP_OK(complete > 0, "%d complete events", complete);
    json_free(&j);
    free(text);
    cli_tmp_cleanup();
    return tap_exit();
}
