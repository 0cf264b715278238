/* report.c — bench/results/latest.md (summary table, details, machine) and two
 * hand-written SVG charts: per-stage device time, and dispatch cost vs T. */
#include "bench/bench.h"

#include <math.h>
#include <string.h>

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static const char *yes(bool met)
{
    return met ? "yes" : "**no**";
}

static void row(FILE *f, const char *fig, const char *z, const char *n, const char *ratio_s,
                const char *target, const char *met)
{
    fprintf(f, "| %s | %s | %s | %s | %s | %s |\n", fig, z, n, ratio_s, target, met);
}

static void fmt(char *b, size_t len, const char *f, double v)
{
    snprintf(b, len, f, v);
}

static const char *human(uint64_t bytes, char *buf, size_t len)
{
    return zmoe_size_human(bytes, buf, len);
}

static void summary(FILE *f, const struct bench_results *r)
{
    char z[64], n[64], q[64], t[64];
    fprintf(f, "| figure | zmoe | baseline | ratio | target | met? |\n");
    fprintf(f, "| --- | ---: | ---: | ---: | --- | --- |\n");
    for (uint32_t i = 0; i < r->ncg; i++) {
        const struct bench_cg *c = &r->cg[i];
        if (c->T != 1 && c->T != 8)
            continue;
        static const char *const what[3] = {"acquire + submit + wait, all code",
                                            "dispatch only (no wait), all code",
                                            "dispatch only, own code + loader"};
        for (int k = 0; k < 3; k++) {
            const int m = k == 0 ? 0 : 1;
            const double zv = k == 2 ? c->z[m][0] + c->z[m][1] : c->z[m][4];
            const double nv = k == 2 ? c->n[m][0] + c->n[m][1] : c->n[m][4];
            char fig[160];
            snprintf(fig, sizeof fig, "host instructions per layer call, T=%u (callgrind): %s",
                     c->T, what[k]);
            fmt(z, sizeof z, "%.0f", zv);
            fmt(n, sizeof n, "%.0f", nv);
            double rr = ratio(nv, zv);
            fmt(q, sizeof q, "%.1f× fewer", rr);
            row(f, fig, z, n, q, "≥ 20× fewer", yes(rr >= 20));
        }
    }
    if (r->ncg == 0)
        row(f, "host instructions per layer call", "not measured", "not measured", "-",
            "≥ 20× fewer", "not run (valgrind missing?)");
    for (int i = 0; i < 2; i++) {
        const struct bench_dispatch *d = &r->disp[i];
        char fig[128];
        snprintf(fig, sizeof fig, "Level Zero calls per layer call, T=%u", d->T);
        fmt(z, sizeof z, "%.1f", d->z_calls);
        fmt(n, sizeof n, "%.1f", d->n_calls);
        fmt(q, sizeof q, "%.0f× fewer", ratio(d->n_calls, d->z_calls));
        row(f, fig, z, n, q, "≤ 3", yes(d->z_calls >= 0 && d->z_calls <= 3));
        snprintf(fig, sizeof fig, "mallocs per layer call (calling thread), T=%u, loader with "
                 "zmoe's default driver list", d->T);
        fmt(z, sizeof z, "%.1f", d->z_mallocs);
        fmt(n, sizeof n, "%.1f", d->n_mallocs);
        row(f, fig, z, n, "-", "0", d->z_mallocs == 0 ? "yes" : "**no** (in the loader, see below)");
        if (d->z_mallocs1 >= 0) {
            snprintf(fig, sizeof fig, "mallocs per layer call (calling thread), T=%u, loader with "
                     "one driver", d->T);
            fmt(z, sizeof z, "%.1f", d->z_mallocs1);
            fmt(n, sizeof n, "%.1f", d->n_mallocs1);
            row(f, fig, z, n, "-", "0", yes(d->z_mallocs1 == 0));
        }
        snprintf(fig, sizeof fig, "Level Zero allocations per layer call, T=%u", d->T);
        fmt(z, sizeof z, "%.1f", d->z_allocs);
        fmt(n, sizeof n, "%.1f", d->n_allocs);
        row(f, fig, z, n, "-", "0", yes(d->z_allocs == 0));
        snprintf(fig, sizeof fig, "median host time per layer call (dispatch, no wait), T=%u", d->T);
        fmt(z, sizeof z, "%.1f µs", d->z_host_us);
        fmt(n, sizeof n, "%.1f µs", d->n_host_us);
        fmt(q, sizeof q, "%.1f× less", ratio(d->n_host_us, d->z_host_us));
        row(f, fig, z, n, q, "(reported)", "-");
        snprintf(fig, sizeof fig, "median wall time per layer call (dispatch + wait), T=%u", d->T);
        fmt(z, sizeof z, "%.1f µs", d->z_total_us);
        fmt(n, sizeof n, "%.1f µs", d->n_total_us);
        fmt(q, sizeof q, "%.2f× less", ratio(d->n_total_us, d->z_total_us));
        row(f, fig, z, n, q, "(reported)", "-");
    }
    for (int i = 0; i < 2; i++) {
        const struct bench_onin *o = &r->onin[i];
        if (o->z_off_us <= 0)
            continue;
        char fig[128];
        snprintf(fig, sizeof fig, "device time, router weight on input on / off, T=%u", o->T);
        double zr = o->z_ratio, nr = o->n_ratio;
        fmt(z, sizeof z, "%.3f", zr);
        fmt(n, sizeof n, "%.3f", nr);
        snprintf(q, sizeof q, "-");
        row(f, fig, z, n, q, "zmoe ≤ 1.02", yes(zr <= 1.02));
        snprintf(fig, sizeof fig, "extra bytes moved per step for on-input, T=%u", o->T);
        snprintf(z, sizeof z, "%llu B", (unsigned long long)o->z_extra_bytes);
        snprintf(n, sizeof n, "%llu B", (unsigned long long)o->n_extra_bytes);
        row(f, fig, z, n, "-", "0 (zmoe)", yes(o->z_extra_bytes == 0));
    }
    double worst = 0;
    const char *wname = "";
    for (uint32_t i = 0; i < r->narena; i++) {
        double v = ratio((double)r->arena[i].plan, (double)r->arena[i].lower);
        if (v > worst) {
            worst = v;
            wname = r->arena[i].name;
        }
    }
    if (r->narena) {
        char fig[160];
        snprintf(fig, sizeof fig, "arena plan / lower bound, worst of %u example configs (%s)",
                 r->narena, wname);
        fmt(z, sizeof z, "%.4f", worst);
        row(f, fig, z, "-", "-", "≤ 1.02", yes(worst <= 1.02));
    }
    for (uint32_t i = 0; i < r->nbw; i++) {
        const struct bench_bw *b = &r->bw[i];
        char fig[160];
        snprintf(fig, sizeof fig, "decode-step bandwidth / copy-kernel bandwidth, %s weights",
                 zmoe_dtype_name(b->wdt));
        fmt(z, sizeof z, "%.2f", b->ratio);
        row(f, fig, z, "-", "-", "≥ 0.5", yes(b->ratio >= 0.5));
    }
    /* flatness: zmoe's host work per call across T */
    if (r->nsweep_t > 1) {
        const struct bench_dispatch *a = &r->sweep_t[0], *b = &r->sweep_t[r->nsweep_t - 1];
        char fig[160];
        snprintf(fig, sizeof fig, "zmoe host time per call, T=%u / T=%u", b->T, a->T);
        double zr = ratio(b->z_host_us, a->z_host_us), nr = ratio(b->n_host_us, a->n_host_us);
        (void)yes;
        fmt(z, sizeof z, "%.2f", zr);
        fmt(n, sizeof n, "%.2f", nr);
        row(f, fig, z, n, "-", "(reported: wall time, noisy)", "-");
        snprintf(fig, sizeof fig, "zmoe Level Zero calls per call, T=%u vs T=%u", b->T, a->T);
        snprintf(z, sizeof z, "%.1f vs %.1f", b->z_calls, a->z_calls);
        snprintf(n, sizeof n, "%.1f vs %.1f", b->n_calls, a->n_calls);
        row(f, fig, z, n, "-", "equal", yes(b->z_calls == a->z_calls));
    }
    const struct bench_cg *c1 = NULL, *cm = NULL;
    for (uint32_t i = 0; i < r->ncg; i++) {
        if (!c1 || r->cg[i].T < c1->T)
            c1 = &r->cg[i];
        if (!cm || r->cg[i].T > cm->T)
            cm = &r->cg[i];
    }
    if (c1 && cm && c1 != cm) {
        char fig[160];
        snprintf(fig, sizeof fig, "zmoe host instructions per call (dispatch only), T=%u / T=%u",
                 cm->T, c1->T);
        double zr = ratio(cm->z[1][4], c1->z[1][4]), nr = ratio(cm->n[1][4], c1->n[1][4]);
        fmt(z, sizeof z, "%.3f", zr);
        fmt(n, sizeof n, "%.3f", nr);
        row(f, fig, z, n, "-", "flat (≤ 1.05)", yes(zr <= 1.05));
    }
    if (r->nsweep_ek > 1) {
        double lo = 1e30, hi = 0;
        for (uint32_t i = 0; i < r->nsweep_ek; i++) {
            lo = fmin(lo, r->sweep_ek[i].z_calls);
            hi = fmax(hi, r->sweep_ek[i].z_calls);
        }
        snprintf(z, sizeof z, "%.1f – %.1f", lo, hi);
        snprintf(t, sizeof t, "%u configs", r->nsweep_ek);
        row(f, "zmoe Level Zero calls per call across experts/top_k", z, t, "-", "equal",
            yes(lo == hi));
    }
}

static void details(FILE *f, const struct bench_results *r)
{
    char b1[32], b2[32], b3[32], b4[32];
    fprintf(f, "\n## Dispatch cost per layer call\n\nGeometry: %s. Medians of %u interleaved calls "
               "per side; host = acquire + submit for zmoe, everything but the queue wait for the "
               "baseline; device = sum of kernel timestamps.\n\n",
            r->dispatch_geometry, r->disp[0].calls);
    fprintf(f, "| T | zmoe host µs | baseline host µs | zmoe wall µs | baseline wall µs | baseline wall "
               "with events µs | zmoe device µs | baseline device µs | zmoe L0 calls | baseline L0 calls | baseline L0 allocs | "
               "baseline creates | zmoe mallocs (thread / process) | baseline mallocs (thread / process) |\n");
    fprintf(f, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (uint32_t i = 0; i < r->nsweep_t; i++) {
        const struct bench_dispatch *d = &r->sweep_t[i];
        fprintf(f, "| %u | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f / %.1f | %.1f / %.1f |\n",
                d->T, d->z_host_us, d->n_host_us, d->z_total_us, d->n_total_us,
                d->n_total_timed_us, d->z_dev_us,
                d->n_dev_us, d->z_calls, d->n_calls, d->n_allocs, d->n_creates, d->z_mallocs,
                d->z_mallocs_proc, d->n_mallocs, d->n_mallocs_proc);
    }
    fprintf(f, "\nOn hostdev the wall time is the device's: both sides run the same kernels "
               "(per-stage table below), and what a list costs the driver beyond its kernels "
               "(thread wake-ups, PoCL's per-launch work; hostdev/README.md, Execution cost) is "
               "the same for both. zmoe's ring lists always carry a timestamp event per stage "
               "(each stage waits for the previous one's event), five event resets and "
               "input/output copies sized for max_tokens, which cost it about what it saves on "
               "the host; the plain baseline has barriers only — compare zmoe's wall time "
               "with the baseline's *with events* column. Host medians on 2 shared vCPUs "
               "also swing with PoCL's worker threads, which keep a core busy right after a "
               "list completes: the instruction counts below are the repeatable measure.\n");
    fprintf(f, "\nDevice time per stage (median µs), same calls:\n\n| T | side | router | align | "
               "scale | ones | expert_up | expert_down | combine |\n"
               "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < 2; i++) {
        const struct bench_dispatch *d = &r->disp[i];
        fprintf(f, "| %u | zmoe | %.1f | %.1f | - | - | %.1f | %.1f | %.1f |\n", d->T,
                d->z_stage_us[0], d->z_stage_us[1], d->z_stage_us[2], d->z_stage_us[3],
                d->z_stage_us[4]);
        fprintf(f, "| %u | baseline | %.1f | %.1f | - | - | %.1f | %.1f | %.1f |\n", d->T,
                d->n_stage_us[NAIVE_ROUTER], d->n_stage_us[NAIVE_ALIGN], d->n_stage_us[NAIVE_UP],
                d->n_stage_us[NAIVE_DOWN], d->n_stage_us[NAIVE_COMBINE]);
    }
    fprintf(f, "\nProcess-wide mallocs include the driver's worker threads (hostdev and PoCL "
               "allocate while they execute a submitted list); the calling-thread count is what "
               "the dispatch path itself costs. Driver list of this run (ZE_ENABLE_ALT_DRIVERS): "
               "`%s`. With more than one driver the Level Zero loader (1.8.12) translates handles "
               "and copies the command-list array of zeCommandQueueExecuteCommandLists with "
               "`operator new` on every call: that is the one malloc per zmoe_submit in the "
               "default-list rows (none of it in zmoe's code; 0 with a single driver).\n",
            r->drivers);
    if (r->disp[0].z_mallocs1 >= 0) {
        fprintf(f, "\n| T | zmoe mallocs, default list (thread / process) | zmoe, one driver | "
                   "baseline, default list | baseline, one driver |\n| ---: | ---: | ---: | ---: | ---: |\n");
        for (int i = 0; i < 2; i++) {
            const struct bench_dispatch *d = &r->disp[i];
            fprintf(f, "| %u | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f |\n", d->T,
                    d->z_mallocs, d->z_mallocs_proc, d->z_mallocs1, d->z_mallocs1_proc,
                    d->n_mallocs, d->n_mallocs_proc, d->n_mallocs1, d->n_mallocs1_proc);
        }
    }

    if (r->ncg) {
        fprintf(f, "\n## Host instructions per layer call (callgrind)\n\nSame geometry; "
                   "`valgrind --tool=callgrind --collect-atstart=no`, collection toggled around "
                   "each call on the calling thread only (the driver's worker threads, which run "
                   "the kernels, are not counted); (cost of 40 calls − cost of 10 calls) / 30, "
                   "self cost summed by object file, minus the harness (the same toggles around "
                   "an empty call, measured in the same run). \"with wait\": zmoe acquire + "
                   "submit + wait, "
                   "the whole baseline call; \"dispatch only\": without zmoe_wait / the "
                   "baseline's zeCommandQueueSynchronize. The system column is mostly the "
                   "driver's locking and condition-variable wait (pthread in libc).\n\n"
                   "| T | side | wait? |");
        for (int c = 0; c < BENCH_CG_CLASSES; c++)
            fprintf(f, " %s |", bench_cg_class_name(c));
        fprintf(f, "\n| ---: | --- | --- |");
        for (int c = 0; c < BENCH_CG_CLASSES; c++)
            fprintf(f, " ---: |");
        fprintf(f, "\n");
        for (uint32_t i = 0; i < r->ncg; i++)
            for (int m = 0; m < 2; m++)
                for (int s = 0; s < 2; s++) {
                    const double *v = s ? r->cg[i].n[m] : r->cg[i].z[m];
                    fprintf(f, "| %u | %s | %s |", r->cg[i].T, s ? "baseline" : "zmoe",
                            m ? "dispatch only" : "with wait");
                    for (int c = 0; c < BENCH_CG_CLASSES; c++)
                        fprintf(f, " %.0f |", v[c]);
                    fprintf(f, "\n");
                }
    }

    fprintf(f, "\n## Scaling with experts / top_k\n\nGeometry: %s.\n\n", r->ek_geometry);
    fprintf(f, "| E | top_k | zmoe host µs | baseline host µs | zmoe device µs | baseline device µs "
               "| zmoe L0 calls | baseline L0 calls |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (uint32_t i = 0; i < r->nsweep_ek; i++) {
        const struct bench_dispatch *d = &r->sweep_ek[i];
        fprintf(f, "| %u | %u | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", d->E, d->K,
                d->z_host_us, d->n_host_us, d->z_dev_us, d->n_dev_us, d->z_calls, d->n_calls);
    }

    fprintf(f, "\n## Router weight on input\n\nGeometry: %s (no shared expert: the Python stacks "
               "run it apart on the unscaled input). Device time = sum of kernel timestamps, "
               "medians of interleaved calls of four dispatchers (zmoe on/off, baseline on/off); "
               "on/off = median of the ratios of the on and off calls of each round.\n\n",
            r->onin_geometry);
    fprintf(f, "| T | zmoe on µs | zmoe off µs | zmoe on/off | baseline on µs | baseline off µs | "
               "baseline on/off | zmoe extra bytes | baseline extra bytes |\n"
               "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < 2; i++) {
        const struct bench_onin *o = &r->onin[i];
        fprintf(f, "| %u | %.1f | %.1f | %.3f | %.1f | %.1f | %.3f | %llu | %llu |\n", o->T,
                o->z_on_us, o->z_off_us, o->z_ratio, o->n_on_us, o->n_off_us,
                o->n_ratio, (unsigned long long)o->z_extra_bytes,
                (unsigned long long)o->n_extra_bytes);
    }
    fprintf(f, "\nPer stage with the flag on (median µs):\n\n| T | side | router | align | scale | "
               "ones | expert_up | expert_down | combine |\n"
               "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < 2; i++) {
        const struct bench_onin *o = &r->onin[i];
        fprintf(f, "| %u | zmoe | %.1f | %.1f | - | - | %.1f | %.1f | %.1f |\n", o->T,
                o->z_stage_on_us[0], o->z_stage_on_us[1], o->z_stage_on_us[2],
                o->z_stage_on_us[3], o->z_stage_on_us[4]);
        fprintf(f, "| %u | baseline |", o->T);
        for (int e = 0; e < NAIVE_STAGES; e++)
            fprintf(f, " %.1f |", o->n_stage_on_us[e]);
        fprintf(f, "\n");
    }
    fprintf(f, "\nBaseline extra bytes = T·K rows of x read and written as x·w, T·K weights read, "
               "T·K ones written. zmoe scales the row in registers as expert_up loads it "
               "(it reads the T·K routing weights there instead of in combine: net 0).\n");

    fprintf(f, "\n## Arena\n\n| config | plan (device) | lower bound | plan / bound | "
               "separate buffers (no reuse) | plan / separate | non-weight part: planned / separate "
               "| host-visible plan |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (uint32_t i = 0; i < r->narena; i++) {
        const struct bench_arena *a = &r->arena[i];
        char b5[32], b6[32];
        fprintf(f, "| %s | %s | %s | %.4f | %s | %.3f | %s / %s (%.2f) | %s |\n", a->name,
                human(a->plan, b1, sizeof b1), human(a->lower, b2, sizeof b2),
                ratio((double)a->plan, (double)a->lower), human(a->separate, b3, sizeof b3),
                ratio((double)a->plan, (double)a->separate),
                human(a->plan - a->weights, b5, sizeof b5),
                human(a->separate - a->weights, b6, sizeof b6),
                ratio((double)(a->plan - a->weights), (double)(a->separate - a->weights)),
                human(a->hplan, b4, sizeof b4));
    }
    fprintf(f, "\nWeights are persistent and dominate every config. Lifetime reuse applies to the "
               "activations only, and saves about 1%% of the non-weight part here: in decode the "
               "activations are small next to the per-slot I/O, parameter blocks and upload "
               "staging, which live for the whole run.\n");

    fprintf(f, "\n## Kernel efficiency (bandwidth)\n\nGeometry: %s. Step bandwidth = bytes of the "
               "active experts' weights (+ router) read by one T=1 step / device time of the "
               "step (all stages); copy = the `copy_f32` kernel of kernels/moe.cl, bytes read + "
               "written; a step and a copy alternate, and the ratio is the median of the "
               "per-pair ratios (the machine's slow drift cancels; the GB/s columns are "
               "medians of each series and need not divide to it).\n\n", r->bw_geometry);
    fprintf(f, "| weights | bytes per step | step µs | step GB/s | experts only GB/s | copy GB/s | ratio |\n"
               "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (uint32_t i = 0; i < r->nbw; i++) {
        const struct bench_bw *b = &r->bw[i];
        fprintf(f, "| %s | %s | %.0f | %.2f | %.2f | %.2f | %.3f |\n", zmoe_dtype_name(b->wdt),
                human(b->step_bytes, b1, sizeof b1), b->step_us, b->step_gbs, b->expert_gbs,
                b->copy_gbs, b->ratio);
    }
}

/* ------------------------------------------------------------------ SVG */

static const char *const stage_colors[NAIVE_STAGES] = {"#4e79a7", "#f28e2b", "#e15759", "#b07aa1",
                                                       "#59a14f", "#76b7b2", "#edc948"};

/* Horizontal stacked bars of per-stage device time (on-input config, T = 1 and 8). */
static int svg_stages(const struct bench_results *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    const int W = 760, left = 150, right = 30, bar = 22, gap = 14, top = 50;
    const int rows = 4, H = top + rows * (bar + gap) + 90;
    /* one scale per T (the two differ by an order of magnitude) */
    double scale[2];
    for (int i = 0; i < 2; i++) {
        double zs = 0, ns = 0;
        for (int e = 0; e < ZMOE_STAGE_COUNT; e++)
            zs += r->onin[i].z_stage_on_us[e];
        for (int e = 0; e < NAIVE_STAGES; e++)
            ns += r->onin[i].n_stage_on_us[e];
        double maxv = fmax(zs, ns);
        scale[i] = (W - left - right - 70) / (maxv > 0 ? maxv : 1);
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"15\">Device time per stage, router weight on "
               "input (median µs)</text>\n", left - 140);
    int y = top;
    for (int i = 0; i < 2; i++)
        for (int s = 0; s < 2; s++) {
            const struct bench_onin *o = &r->onin[i];
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s T=%u</text>\n", left - 8,
                    y + bar - 6, s ? "baseline" : "zmoe", o->T);
            double x = left, total = 0;
            for (int e = 0; e < NAIVE_STAGES; e++) {
                double v;
                int color;
                if (s) {
                    v = o->n_stage_on_us[e];
                    color = e;
                } else {
                    /* zmoe stages map onto the baseline's colors (no scale/ones) */
                    static const int zmap[NAIVE_STAGES] = {0, 1, -1, -1, 2, 3, 4};
                    static const int zcol[NAIVE_STAGES] = {NAIVE_ROUTER, NAIVE_ALIGN, 0, 0,
                                                           NAIVE_UP, NAIVE_DOWN, NAIVE_COMBINE};
                    if (zmap[e] < 0)
                        continue;
                    v = o->z_stage_on_us[zmap[e]];
                    color = zcol[e];
                }
                double w = v * scale[i];
                fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\">"
                           "<title>%s %.1f µs</title></rect>\n",
                        x, y, w, bar, stage_colors[color], naive_stage_name((enum naive_stage)e), v);
                x += w;
                total += v;
            }
            fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.0f µs</text>\n", fmin(x + 4, W - 60.0),
                    y + bar - 6, total);
            y += bar + gap;
        }
    int lx = left;
    for (int e = 0; e < NAIVE_STAGES; e++) {
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                   "<text x=\"%d\" y=\"%d\">%s</text>\n",
                lx, y + 10, stage_colors[e], lx + 16, y + 21, naive_stage_name((enum naive_stage)e));
        lx += 16 + 8 * (int)strlen(naive_stage_name((enum naive_stage)e)) + 10;
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#555\">%s; bar lengths scaled per T</text>\n",
            left - 140, y + 55, r->onin_geometry);
    fprintf(f, "</svg>\n");
    return fclose(f) ? 1 : 0;
}

/* Log-log lines: host dispatch and device time per call against T. */
static int svg_dispatch(const struct bench_results *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    const int W = 760, H = 440, left = 80, right = 190, top = 45, bottom = 60;
    const int n = (int)r->nsweep_t;
    double lo = 1e30, hi = 0;
    for (int i = 0; i < n; i++) {
        const struct bench_dispatch *d = &r->sweep_t[i];
        const double v[4] = {d->z_host_us, d->n_host_us, d->z_dev_us, d->n_dev_us};
        for (int k = 0; k < 4; k++)
            if (v[k] > 0) {
                lo = fmin(lo, v[k]);
                hi = fmax(hi, v[k]);
            }
    }
    if (hi <= 0) {
        lo = 1;
        hi = 10;
    }
    double l0 = floor(log10(lo)), l1 = ceil(log10(hi));
    if (l1 <= l0)
        l1 = l0 + 1;
    const double pw = W - left - right, ph = H - top - bottom;
#define XPOS(i) (left + (n > 1 ? pw * (i) / (n - 1) : pw / 2))
#define YPOS(v) (top + ph * (1 - (log10(v) - l0) / (l1 - l0)))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"15\">Cost per layer call vs tokens T (median µs, "
               "log scale)</text>\n", left - 60);
    for (double e = l0; e <= l1; e += 1) {
        double yv = YPOS(pow(10, e));
        fprintf(f, "<line x1=\"%d\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                left, left + pw, yv, yv, left - 6, yv + 4, pow(10, e));
    }
    for (int i = 0; i < n; i++)
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%u</text>\n", XPOS(i),
                top + ph + 18, r->sweep_t[i].T);
    fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">tokens per call (T)</text>\n",
            left + pw / 2, top + ph + 40);
    static const char *const names[4] = {"zmoe host (acquire+submit)", "baseline host",
                                         "zmoe device", "baseline device"};
    static const char *const colors[4] = {"#4e79a7", "#e15759", "#4e79a7", "#e15759"};
    for (int k = 0; k < 4; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", colors[k],
                k >= 2 ? " stroke-dasharray=\"6,4\"" : "");
        for (int i = 0; i < n; i++) {
            const struct bench_dispatch *d = &r->sweep_t[i];
            const double v[4] = {d->z_host_us, d->n_host_us, d->z_dev_us, d->n_dev_us};
            if (v[k] > 0)
                fprintf(f, "%.1f,%.1f ", XPOS(i), YPOS(v[k]));
        }
        fprintf(f, "\"/>\n");
        for (int i = 0; i < n; i++) {
            const struct bench_dispatch *d = &r->sweep_t[i];
            const double v[4] = {d->z_host_us, d->n_host_us, d->z_dev_us, d->n_dev_us};
            if (v[k] > 0)
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s T=%u: "
                           "%.1f µs</title></circle>\n",
                        XPOS(i), YPOS(v[k]), colors[k], names[k], d->T, v[k]);
        }
        const double ly = top + 10 + 22 * k;
        fprintf(f, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" "
                   "stroke-width=\"2\"%s/><text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
                left + pw + 12, left + pw + 36, ly, ly, colors[k],
                k >= 2 ? " stroke-dasharray=\"6,4\"" : "", left + pw + 42, ly + 4, names[k]);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#555\">%s</text>\n", left - 60, H - 8,
            r->dispatch_geometry);
#undef XPOS
#undef YPOS
    fprintf(f, "</svg>\n");
    return fclose(f) ? 1 : 0;
}

static void lanes_table(FILE *f, const struct bench_results *r)
{
    if (!r->nlanes)
        return;
    fprintf(f, "\nGEMV work-group shape on this device (diagnostic; ZMOE_GEMV_LANES = work-items "
               "sharing one weight row's reduction, NOUT = 64 / LANES rows per work-group; the "
               "runtime's default on a CPU device is 8, on a GPU 16). Three runtimes stepped in "
               "turn, each step against the same round's copy:\n\n"
               "| weights | lanes | step µs | step bandwidth / copy |\n| --- | ---: | ---: | ---: |\n");
    for (uint32_t i = 0; i < r->nlanes; i++)
        fprintf(f, "| %s | %u | %.0f | %.3f |\n", zmoe_dtype_name(r->lanes[i].wdt),
                r->lanes[i].lanes, r->lanes[i].step_us, r->lanes[i].ratio);
}

int bench_write_report(const struct bench_results *r, const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/latest.md", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "zbench: cannot write %s\n", path);
        return 1;
    }
    fprintf(f, "# zmoe benchmarks: zmoe vs a naive per-call Level Zero dispatcher\n\n");
    fprintf(f, "- date: %s, git commit: %s, run time: %.0f s\n", r->date, r->commit, r->seconds);
    fprintf(f, "- machine: %s, %u cores, %.1f GiB memory\n", r->cpu, r->cores, r->mem_gib);
    fprintf(f, "- device: %s\n", r->device[0] ? r->device : "(see details)");
    fprintf(f, "- baseline: allocates its scratch with zeMemAllocDevice, applies the router "
               "weight out of place, records a fresh command list with zmoe's kernels and "
               "arguments, executes, waits, frees — every call (bench/naive.c). Same device, "
               "kernels and weight memory as zmoe.\n");
    fprintf(f, "- the machine is shared and noisy: comparisons are interleaved in one run and "
               "reported as ratios; absolute times are indicative only.\n\n");
    fprintf(f, "![per-stage device time](stages.svg)\n![dispatch cost vs T](dispatch_vs_tokens.svg)\n\n");
    fprintf(f, "## Summary\n\n");
    summary(f, r);
    details(f, r);
    lanes_table(f, r);
    if (fclose(f))
        return 1;
    snprintf(path, sizeof path, "%s/stages.svg", dir);
    if (svg_stages(r, path))
        return 1;
    snprintf(path, sizeof path, "%s/dispatch_vs_tokens.svg", dir);
    return svg_dispatch(r, path);
}
