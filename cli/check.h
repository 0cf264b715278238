/* `zmoe run --check`: device outputs against the plain-C reference MoE
 * (reference/moe_ref.h). */
#ifndef ZMOE_CLI_CHECK_H
#define ZMOE_CLI_CHECK_H

#include "zmoe.h"

struct cli_check_result {
    uint32_t layers_checked;
    uint32_t worst_layer;
    double max_abs;          /* max |y_dev - y_ref| */
    double max_ref;          /* max |y_ref| over the checked layers */
    double max_rel;          /* max_abs / max_ref: stable where y_ref crosses zero */
    double tolerance;        /* on max_rel, from the activation and weight dtypes */
    char why[256];
};

/* x_in and y_dev hold, for layers 0..layers-1, the exact f32 values of the layer's
 * input (after rounding to the activation dtype) and the device's output, each
 * [tokens][hidden]. Checks as many leading layers as fit a 1 GiB f32 weight copy.
 * Returns CLI_EXIT_OK when the check ran (see r->max_rel vs r->tolerance). */
int cli_check_layers(const struct zmoe_config *cfg, uint32_t layers, uint32_t tokens,
                     const float *x_in, const float *y_dev, struct cli_check_result *r);

#endif
