// Shared helpers for Palisade's N-API addon (plain C against node_api.h; see binding.gyp).
#ifndef PALISADE_COMMON_H
#define PALISADE_COMMON_H

#include <node_api.h>
#include <uv.h>
#include <stdint.h>
#include <stddef.h>

// Returns NULL from the current napi callback when a napi call fails (an exception is pending).
#define PAL_CALL(env, call)                                   \
  do {                                                        \
    if ((call) != napi_ok) {                                  \
      pal_throw_pending(env, #call);                          \
      return NULL;                                            \
    }                                                         \
  } while (0)

/** An Error whose message names the operation and the errno text, with .code ("EBUSY"), .errno (positive) and .syscall. */
napi_value pal_errno_error(napi_env env, int err, const char *syscall, const char *what);
void pal_throw_errno(napi_env env, int err, const char *syscall, const char *what);
void pal_throw_pending(napi_env env, const char *what);
void pal_throw_type(napi_env env, const char *msg);

/* Option readers: return 0 on success, -1 after throwing a TypeError/RangeError naming the key. */
int pal_opt_u32(napi_env env, napi_value obj, const char *key, uint32_t dflt, uint32_t min, uint32_t max, uint32_t *out);
int pal_opt_bool(napi_env env, napi_value obj, const char *key, int dflt, int *out);
int pal_opt_string(napi_env env, napi_value obj, const char *key, char *buf, size_t cap);

/* The pieces both handle types (nfqueue, tun) need to talk to JS. */

/** Unwraps the native handle in argv[0] (after reading up to *argc arguments; *argc becomes the
 * count given). Throws a TypeError with `msg` and returns NULL when there is none. */
void *pal_unwrap_handle(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, const char *msg);

/** Calls the function held by `ref` with one argument from a libuv callback (napi_make_callback,
 * so microtasks run after it). An exception it throws is caught and cleared here, because it must
 * not unwind into libuv. Returns 0 when it ran, -1 when it threw, 1 when there is no function. */
int pal_call_ref(napi_env env, napi_async_context actx, napi_ref ref, napi_value arg);

/** handleRef(handle, ref): lets an open poll keep the event loop alive, or not. */
void pal_poll_ref(uv_poll_t *poll, int open, bool ref);

int pal_set_u64(napi_env env, napi_value obj, const char *key, uint64_t v);
int pal_set_u32(napi_env env, napi_value obj, const char *key, uint32_t v);

napi_value nfq_open(napi_env env, napi_callback_info info);
napi_value nfq_close(napi_env env, napi_callback_info info);
napi_value nfq_stats(napi_env env, napi_callback_info info);
napi_value nfq_ref(napi_env env, napi_callback_info info);
napi_value tun_open(napi_env env, napi_callback_info info);
napi_value tun_close(napi_env env, napi_callback_info info);
napi_value tun_stats(napi_env env, napi_callback_info info);
napi_value tun_ref(napi_env env, napi_callback_info info);
napi_value ipset_open(napi_env env, napi_callback_info info);
napi_value ipset_close(napi_env env, napi_callback_info info);
napi_value ipset_add(napi_env env, napi_callback_info info);
napi_value ipset_flush(napi_env env, napi_callback_info info);
napi_value ipset_swap(napi_env env, napi_callback_info info);

#endif
