/* weights/safetensors: see safetensors.h. (Parser lands in the next commit.) */
#include "weights/safetensors.h"

size_t zmoe_safetensors_workspace_size(void)
{
    return 0;
}

enum zmoe_status zmoe_safetensors_load(const struct zmoe_config *cfg, void *workspace,
                                       size_t workspace_size, void *staging,
                                       size_t staging_size, zmoe_weights_sink sink, void *ctx,
                                       char *report, size_t report_size,
                                       struct zmoe_error *err)
{
    (void)workspace; (void)workspace_size; (void)staging; (void)staging_size; (void)sink;
    (void)ctx; (void)report; (void)report_size;
    zmoe_weights_errorf(err, "weights: %s: safetensors loading not implemented yet",
                        cfg->weights.file);
    return ZMOE_ERR_WEIGHTS;
}

enum zmoe_status zmoe_safetensors_check(const void *data, size_t size, const char *name,
                                        void *workspace, size_t workspace_size,
                                        struct zmoe_error *err)
{
    (void)data; (void)size; (void)workspace; (void)workspace_size;
    zmoe_weights_errorf(err, "weights: %s: not implemented yet", name);
    return ZMOE_ERR_WEIGHTS;
}
