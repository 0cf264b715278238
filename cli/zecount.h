/* Counts Level Zero API calls with the loader's tracing layer, for `zmoe run`'s
 * "Level Zero calls per step" line. The layer must be enabled before zeInit, so
 * zecount_prepare() runs before the runtime is created. */
#ifndef ZMOE_CLI_ZECOUNT_H
#define ZMOE_CLI_ZECOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void zecount_prepare(void);
/* Creates and enables a tracer counting every API call (after zeInit). false with a
 * reason when the tracing layer is unavailable. */
bool zecount_start(char *why, size_t why_size);
/* Calls counted since the last reset (any thread). */
uint64_t zecount_read(void);
void zecount_reset(void);
void zecount_stop(void);

#endif
