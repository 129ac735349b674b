// TUN fallback: packets the kernel routes into a TUN device are read here in batches (one read()
// per packet, the TUN interface has no batched read), judged in JS from a shared buffer, and the
// accepted ones are written back to the same device, where the kernel receives them as if they
// had arrived on it and routes them on (see src/enforce/tun.ts for the routing that makes this
// loop-free). Dropping is simply not writing.
#include "common.h"
#include "batch.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_ROUNDS 16

enum { TARR_LENS, TARR_VERDICTS, TARR_COUNT };

typedef struct tunh {
  napi_env env;
  uv_poll_t poll;
  int fd;
  char name[IFNAMSIZ];
  uint32_t batch, stride;
  int persist;
  uint8_t *mem;
  uint32_t *arr[TARR_COUNT];
  napi_ref ab_ref, on_batch, on_status, self_ref;
  napi_async_context actx;
  int open, poll_closed, finalized;
  uint64_t rx_packets, rx_batches, tx_packets, dropped, read_errors, write_errors, cb_errors, oversize;
  int last_errno;
} tunh_t;

static void on_poll_closed(uv_handle_t *h) {
  tunh_t *t = h->data;
  t->poll_closed = 1;
  if (t->finalized) free(t);
}

static void tun_do_close(tunh_t *t, int keep_persist) {
  if (!t->open) return;
  t->open = 0;
  uv_poll_stop(&t->poll);
  uv_close((uv_handle_t *)&t->poll, on_poll_closed);
  if (t->fd >= 0) {
    /* A persistent device outlives this process so that its routes keep pointing at a dead end
     * (fail-closed) while the agent restarts; an orderly shutdown removes it. */
    if (t->persist && !keep_persist) ioctl(t->fd, TUNSETPERSIST, 0);
    close(t->fd);
  }
  t->fd = -1;
  napi_env env = t->env;
  if (t->ab_ref) napi_delete_reference(env, t->ab_ref);
  if (t->on_batch) napi_delete_reference(env, t->on_batch);
  if (t->on_status) napi_delete_reference(env, t->on_status);
  if (t->self_ref) napi_delete_reference(env, t->self_ref);
  if (t->actx) napi_async_destroy(env, t->actx);
  t->ab_ref = t->on_batch = t->on_status = t->self_ref = NULL;
  t->actx = NULL;
  t->mem = NULL;
}

static void tun_finalize(napi_env env, void *data, void *hint) {
  tunh_t *t = data;
  t->finalized = 1;
  tun_do_close(t, 1);
  if (t->poll_closed) free(t);
}

static void call_status(tunh_t *t, napi_value err) {
  if (pal_call_ref(t->env, t->actx, t->on_status, err) < 0) t->cb_errors++;
}

static void deliver(tunh_t *t, uint32_t count) {
  napi_env env = t->env;
  uint32_t *verd = t->arr[TARR_VERDICTS], *lens = t->arr[TARR_LENS];
  for (uint32_t i = 0; i < count; i++) verd[i] = 0; /* unanswered = dropped */
  t->rx_packets += count;
  t->rx_batches++;
  napi_value arg;
  napi_create_uint32(env, count, &arg);
  if (pal_call_ref(env, t->actx, t->on_batch, arg) < 0) {
    t->cb_errors++;
    for (uint32_t i = 0; i < count; i++) verd[i] = 0;
  }
  if (t->fd < 0 || t->mem == NULL) return;
  for (uint32_t i = 0; i < count; i++) {
    if (verd[i] != 1) {
      t->dropped++;
      continue;
    }
    ssize_t n = write(t->fd, t->mem + (size_t)i * t->stride, lens[i]);
    if (n < 0) {
      t->write_errors++;
      t->last_errno = errno;
    } else {
      t->tx_packets++;
    }
  }
}

static void on_readable(uv_poll_t *h, int status, int events) {
  tunh_t *t = h->data;
  napi_env env = t->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value runtime_err = NULL;
  if (status < 0) {
    runtime_err = pal_errno_error(env, -status, "uv_poll", "tun receive");
  }
  for (int round = 0; runtime_err == NULL && round < MAX_ROUNDS && t->open; round++) {
    uint32_t count = 0;
    while (count < t->batch) {
      ssize_t n = read(t->fd, t->mem + (size_t)count * t->stride, t->stride);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          t->read_errors++;
          t->last_errno = errno;
          runtime_err = pal_errno_error(env, errno, "read", "tun receive");
        }
        break;
      }
      if ((uint32_t)n >= t->stride) {
        /* Longer than the device MTU allows: cannot be re-injected intact, so it is dropped. */
        t->oversize++;
        continue;
      }
      t->arr[TARR_LENS][count++] = (uint32_t)n;
    }
    if (count) deliver(t, count);
    if (count < t->batch) break;
  }
  if (runtime_err != NULL && t->open) call_status(t, runtime_err);
  napi_close_handle_scope(env, scope);
}

/* tunOpen({name, batch, mtu, persist}, onBatch(n), onStatus(err)) -> handle
 *   { memory, stride, batch, arraysOffset, name }.
 * The packet area holds batch slots of `stride` bytes (mtu + 1 rounded up); lens then verdicts
 * (uint32, 1 = write back, anything else = drop) follow at arraysOffset. */
napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  PAL_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t1, t2;
  if (argc < 3 || napi_typeof(env, argv[1], &t1) != napi_ok || napi_typeof(env, argv[2], &t2) != napi_ok ||
      t1 != napi_function || t2 != napi_function) {
    pal_throw_type(env, "tunOpen(options, onBatch, onStatus): onBatch and onStatus must be functions");
    return NULL;
  }
  char name[IFNAMSIZ];
  uint32_t batch, mtu;
  int persist;
  if (pal_opt_string(env, argv[0], "name", name, sizeof name) < 0) return NULL;
  if (pal_opt_u32(env, argv[0], "batch", 32, 1, 1024, &batch) < 0) return NULL;
  if (pal_opt_u32(env, argv[0], "mtu", 65535, 576, 65535, &mtu) < 0) return NULL;
  if (pal_opt_bool(env, argv[0], "persist", 0, &persist) < 0) return NULL;

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    pal_throw_errno(env, errno, "open(/dev/net/tun)", "tun open");
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  /* IFF_NO_PI: every read/write is exactly one IP packet, no 4-byte protocol prefix. */
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, strlen(name));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    pal_throw_errno(env, e, "ioctl(TUNSETIFF)", "tun open");
    return NULL;
  }
  if (persist && ioctl(fd, TUNSETPERSIST, 1) < 0) {
    int e = errno;
    close(fd);
    pal_throw_errno(env, e, "ioctl(TUNSETPERSIST)", "tun open");
    return NULL;
  }
  tunh_t *t = calloc(1, sizeof *t);
  if (!t) {
    close(fd);
    pal_throw_errno(env, ENOMEM, "calloc", "tun open");
    return NULL;
  }
  t->env = env;
  t->fd = fd;
  t->batch = batch;
  t->persist = persist;
  t->stride = (mtu + 1 + 63u) & ~63u;
  memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
  t->name[IFNAMSIZ - 1] = 0;

  pal_batch_mem_t bm;
  if (pal_batch_memory(env, batch, t->stride, TARR_COUNT, t->arr, &bm) < 0) {
    close(fd);
    free(t);
    return NULL;
  }
  t->mem = bm.mem;
  napi_value ab = bm.buffer, v;
  napi_value handle = pal_batch_handle(env, &bm, t->stride, batch);
  napi_create_string_utf8(env, t->name, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, handle, "name", v);
  if (napi_wrap(env, handle, t, tun_finalize, NULL, NULL) != napi_ok) {
    close(fd);
    free(t);
    pal_throw_pending(env, "napi_wrap");
    return NULL;
  }
  t->open = 1;
  napi_create_reference(env, ab, 1, &t->ab_ref);
  napi_create_reference(env, argv[1], 1, &t->on_batch);
  napi_create_reference(env, argv[2], 1, &t->on_status);
  napi_create_reference(env, handle, 1, &t->self_ref);
  napi_create_string_utf8(env, "palisade:tun", NAPI_AUTO_LENGTH, &v);
  napi_async_init(env, NULL, v, &t->actx);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  int rc = uv_poll_init(loop, &t->poll, fd);
  if (rc < 0) {
    t->poll_closed = 1;
    t->open = 0;
    close(fd);
    t->fd = -1;
    pal_throw_errno(env, -rc, "uv_poll_init", "tun open");
    return NULL;
  }
  t->poll.data = t;
  rc = uv_poll_start(&t->poll, UV_READABLE, on_readable);
  if (rc < 0) {
    tun_do_close(t, 0);
    pal_throw_errno(env, -rc, "uv_poll_start", "tun open");
    return NULL;
  }
  return handle;
}

static tunh_t *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  return pal_unwrap_handle(env, info, argc, argv, "expected a tun handle");
}

/* tunClose(handle, keepDevice): keepDevice leaves a persistent device in place (restart). */
napi_value tun_close(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  tunh_t *t = unwrap(env, info, &argc, argv);
  if (!t) return NULL;
  bool keep = false;
  if (argc > 1) napi_get_value_bool(env, argv[1], &keep);
  tun_do_close(t, keep);
  return NULL;
}

napi_value tun_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  tunh_t *t = unwrap(env, info, &argc, argv);
  if (!t) return NULL;
  bool ref = true;
  if (argc > 1) napi_get_value_bool(env, argv[1], &ref);
  pal_poll_ref(&t->poll, t->open, ref);
  return NULL;
}

napi_value tun_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], o, b;
  tunh_t *t = unwrap(env, info, &argc, argv);
  if (!t) return NULL;
  PAL_CALL(env, napi_create_object(env, &o));
  pal_set_u64(env, o, "packets", t->rx_packets);
  pal_set_u64(env, o, "batches", t->rx_batches);
  pal_set_u64(env, o, "written", t->tx_packets);
  pal_set_u64(env, o, "dropped", t->dropped);
  pal_set_u64(env, o, "oversize", t->oversize);
  pal_set_u64(env, o, "readErrors", t->read_errors);
  pal_set_u64(env, o, "writeErrors", t->write_errors);
  pal_set_u64(env, o, "callbackErrors", t->cb_errors);
  pal_set_u32(env, o, "lastErrno", (uint32_t)t->last_errno);
  napi_get_boolean(env, t->open != 0, &b);
  napi_set_named_property(env, o, "open", b);
  return o;
}
