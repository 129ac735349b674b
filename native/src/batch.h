// The memory a native handle (nfqueue, tun) shares with JS for its batches: `batch` packet slots
// of `stride` bytes, then `narrays` uint32 arrays of `batch` entries (lengths, marks, verdicts...)
// from an 8-byte aligned offset. One ArrayBuffer, so JS reads packets and writes verdicts in
// place: no copy and no allocation per batch.
#ifndef PALISADE_BATCH_H
#define PALISADE_BATCH_H

#include <node_api.h>
#include <stdint.h>
#include <stddef.h>

typedef struct {
  napi_value buffer; /* the ArrayBuffer; JS owns the memory */
  uint8_t *mem;      /* its bytes: slot i at mem + i * stride */
  size_t arrays_off; /* where the uint32 arrays start */
} pal_batch_mem_t;

/** Creates the memory zero-filled and points arr[0..narrays) at the arrays. Returns 0, or -1
 * with a JS exception pending. */
int pal_batch_memory(napi_env env, uint32_t batch, uint32_t stride, int narrays, uint32_t **arr, pal_batch_mem_t *out);

/** The JS handle object {memory, stride, batch, arraysOffset}; the caller adds its own fields. */
napi_value pal_batch_handle(napi_env env, const pal_batch_mem_t *m, uint32_t stride, uint32_t batch);

#endif
