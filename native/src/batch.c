// Shared batch memory for nfqueue.c and tun.c (see batch.h).
#include "batch.h"
#include "common.h"

#include <string.h>

int pal_batch_memory(napi_env env, uint32_t batch, uint32_t stride, int narrays, uint32_t **arr, pal_batch_mem_t *out) {
  size_t pkt_bytes = (size_t)batch * stride;
  size_t arrays_off = (pkt_bytes + 7) & ~(size_t)7;
  size_t total = arrays_off + (size_t)narrays * batch * 4;
  void *data = NULL;
  if (napi_create_arraybuffer(env, total, &data, &out->buffer) != napi_ok) {
    pal_throw_pending(env, "napi_create_arraybuffer");
    return -1;
  }
  /* Zeroed: verdict arrays start as "drop", and no stale bytes are ever handed to JS. */
  memset(data, 0, total);
  out->mem = data;
  out->arrays_off = arrays_off;
  for (int i = 0; i < narrays; i++) arr[i] = (uint32_t *)(out->mem + arrays_off + (size_t)i * batch * 4);
  return 0;
}

napi_value pal_batch_handle(napi_env env, const pal_batch_mem_t *m, uint32_t stride, uint32_t batch) {
  napi_value handle;
  napi_create_object(env, &handle);
  napi_set_named_property(env, handle, "memory", m->buffer);
  pal_set_u32(env, handle, "stride", stride);
  pal_set_u32(env, handle, "batch", batch);
  pal_set_u32(env, handle, "arraysOffset", (uint32_t)m->arrays_off);
  return handle;
}
