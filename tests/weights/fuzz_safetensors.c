/* libFuzzer target: any byte string through the safetensors header parser and
 * validator (zmoe_safetensors_check), the entry point that sees untrusted file bytes.
 * Built only with -Dfuzz=true and clang. Run: ./fuzz_safetensors tests/weights/corpus */
#include "weights/safetensors.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* One workspace for the whole run, as a loader would take it once. */
    static void *ws;
    if (!ws && !(ws = malloc(zmoe_safetensors_workspace_size())))
        abort();
    struct zmoe_error err;
    enum zmoe_status st =
        zmoe_safetensors_check(data, size, "fuzz", ws, zmoe_safetensors_workspace_size(), &err);
    /* The only outcomes: valid, or refused with a message. */
    if (st != ZMOE_OK && (st != ZMOE_ERR_WEIGHTS || err.msg[0] == '\0'))
        abort();
    return 0;
}
