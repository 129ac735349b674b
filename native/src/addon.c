// Module registration and small helpers shared by nfqueue.c and tun.c.
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/netfilter.h>

napi_value pal_errno_error(napi_env env, int err, const char *syscall, const char *what) {
  char msg[256];
  const char *name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s failed: %s (%s)", what, syscall, strerror(err), name ? name : "?");
  napi_value jmsg, jerr, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_value jcode = NULL;
  if (name) napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &jcode);
  napi_create_error(env, jcode, jmsg, &jerr);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, jerr, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, jerr, "syscall", v);
  return jerr;
}

void pal_throw_errno(napi_env env, int err, const char *syscall, const char *what) {
  napi_throw(env, pal_errno_error(env, err, syscall, what));
}

void pal_throw_pending(napi_env env, const char *what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char msg[256];
  snprintf(msg, sizeof msg, "palisade native: %s: %s", what,
           info && info->error_message ? info->error_message : "N-API call failed");
  napi_throw_error(env, NULL, msg);
}

void pal_throw_type(napi_env env, const char *msg) { napi_throw_type_error(env, NULL, msg); }

void *pal_unwrap_handle(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, const char *msg) {
  size_t n = *argc;
  if (napi_get_cb_info(env, info, &n, argv, NULL, NULL) != napi_ok || n < 1) {
    pal_throw_type(env, msg);
    return NULL;
  }
  *argc = n;
  void *p = NULL;
  if (napi_unwrap(env, argv[0], &p) != napi_ok || p == NULL) {
    pal_throw_type(env, msg);
    return NULL;
  }
  return p;
}

int pal_call_ref(napi_env env, napi_async_context actx, napi_ref ref, napi_value arg) {
  napi_value fn, recv, res;
  if (ref == NULL || napi_get_reference_value(env, ref, &fn) != napi_ok || fn == NULL) return 1;
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  if (napi_make_callback(env, actx, recv, fn, 1, &arg, &res) != napi_ok) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    return -1;
  }
  return 0;
}

void pal_poll_ref(uv_poll_t *poll, int open, bool ref) {
  if (!open) return;
  if (ref) uv_ref((uv_handle_t *)poll);
  else uv_unref((uv_handle_t *)poll);
}

static int get_prop(napi_env env, napi_value obj, const char *key, napi_value *out, napi_valuetype *type) {
  *type = napi_undefined;
  if (obj == NULL) return 0;
  napi_valuetype ot;
  if (napi_typeof(env, obj, &ot) != napi_ok || ot != napi_object) return 0;
  bool has = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return 0;
  if (napi_get_named_property(env, obj, key, out) != napi_ok) return -1;
  napi_typeof(env, *out, type);
  return 0;
}

int pal_opt_u32(napi_env env, napi_value obj, const char *key, uint32_t dflt, uint32_t min, uint32_t max, uint32_t *out) {
  napi_value v;
  napi_valuetype t;
  if (get_prop(env, obj, key, &v, &t) < 0) return -1;
  if (t == napi_undefined || t == napi_null) {
    *out = dflt;
    return 0;
  }
  char msg[160];
  double d;
  if (t != napi_number || napi_get_value_double(env, v, &d) != napi_ok || d != (double)(int64_t)d) {
    snprintf(msg, sizeof msg, "option %s must be an integer", key);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return -1;
  }
  if (d < (double)min || d > (double)max) {
    snprintf(msg, sizeof msg, "option %s must be between %u and %u, got %.0f", key, min, max, d);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return -1;
  }
  *out = (uint32_t)d;
  return 0;
}

int pal_opt_bool(napi_env env, napi_value obj, const char *key, int dflt, int *out) {
  napi_value v;
  napi_valuetype t;
  if (get_prop(env, obj, key, &v, &t) < 0) return -1;
  if (t == napi_undefined || t == napi_null) {
    *out = dflt;
    return 0;
  }
  bool b;
  if (t != napi_boolean || napi_get_value_bool(env, v, &b) != napi_ok) {
    char msg[160];
    snprintf(msg, sizeof msg, "option %s must be a boolean", key);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return -1;
  }
  *out = b ? 1 : 0;
  return 0;
}

int pal_opt_string(napi_env env, napi_value obj, const char *key, char *buf, size_t cap) {
  napi_value v;
  napi_valuetype t;
  buf[0] = 0;
  if (get_prop(env, obj, key, &v, &t) < 0) return -1;
  if (t == napi_undefined || t == napi_null) return 0;
  size_t len = 0;
  char msg[160];
  if (t != napi_string || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    snprintf(msg, sizeof msg, "option %s must be a string", key);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return -1;
  }
  if (len >= cap) {
    snprintf(msg, sizeof msg, "option %s must be at most %zu bytes", key, cap - 1);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return -1;
  }
  napi_get_value_string_utf8(env, v, buf, cap, &len);
  return 0;
}

int pal_set_u64(napi_env env, napi_value obj, const char *key, uint64_t v) {
  napi_value jv;
  if (napi_create_double(env, (double)v, &jv) != napi_ok) return -1;
  return napi_set_named_property(env, obj, key, jv) == napi_ok ? 0 : -1;
}

int pal_set_u32(napi_env env, napi_value obj, const char *key, uint32_t v) {
  napi_value jv;
  if (napi_create_uint32(env, v, &jv) != napi_ok) return -1;
  return napi_set_named_property(env, obj, key, jv) == napi_ok ? 0 : -1;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"nfqOpen", NULL, nfq_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nfqClose", NULL, nfq_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nfqStats", NULL, nfq_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nfqRef", NULL, nfq_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunOpen", NULL, tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunClose", NULL, tun_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunStats", NULL, tun_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunRef", NULL, tun_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ipsetOpen", NULL, ipset_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ipsetClose", NULL, ipset_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ipsetAdd", NULL, ipset_add, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ipsetFlush", NULL, ipset_flush, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ipsetSwap", NULL, ipset_swap, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) return NULL;
  // Netfilter verdict numbers as the kernel defines them (linux/netfilter.h).
  pal_set_u32(env, exports, "NF_DROP", NF_DROP);
  pal_set_u32(env, exports, "NF_ACCEPT", NF_ACCEPT);
  pal_set_u32(env, exports, "NF_REPEAT", NF_REPEAT);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
