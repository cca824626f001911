/* How the stand-in CUPTI (cupti.c) hears of the stand-in driver's launches and copies: the real
 * CUPTI reaches into the real driver through export tables; the stand-ins share this interface.
 * The driver exports standin_driver_set_activity_sink, which the stand-in CUPTI finds with
 * dlsym on the already loaded libcuda.so.1. */
#ifndef SCOPE_TESTDATA_STANDIN_ACTIVITY_H
#define SCOPE_TESTDATA_STANDIN_ACTIVITY_H

#include <stdint.h>

struct standin_activity_sink {
  /* A launch call (its CUPTI driver callback id) of kernel `name` (the driver's string: the same
   * pointer for every launch of one kernel), begun at `api_start_ns` (CLOCK_REALTIME). */
  void (*launch)(uint32_t cbid, const char *name, uint64_t api_start_ns, uint32_t tid,
                 const unsigned grid[3], const unsigned block[3], uint64_t stream);
  /* A copy (CUpti_ActivityMemcpyKind) of `bytes`. */
  void (*copy)(uint32_t cbid, uint8_t cupti_copy_kind, uint64_t bytes, uint64_t api_start_ns,
               uint32_t tid);
};

typedef void (*standin_set_sink_fn)(const struct standin_activity_sink *sink);

#endif
