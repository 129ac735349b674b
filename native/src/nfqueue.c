// NFQUEUE consumer over a raw NETLINK_NETFILTER socket (no libnetfilter_queue at run time).
//
// Shape of the hot path, one poll wake-up:
//   recvmmsg(batch datagrams) -> copy each packet's first copy_range bytes to slot i of a shared
//   ArrayBuffer (fixed stride) and its id/length/mark/ifindex into parallel uint32 arrays ->
//   one JS call onBatch(count) that writes verdicts[i] (and may change marks[i]) ->
//   one sendmsg carrying one NFQNL_MSG_VERDICT_BATCH per run of equal (verdict, mark).
// A batch verdict applies to every queued id <= the id it names (nfqnl_recv_verdict_batch), so
// runs must be contiguous in id order. The kernel assigns ids with ++id_sequence under the queue
// lock and unicasts in that order, so datagrams arrive in id order and every id <= the last id of
// a run is either in that run or was answered by an earlier one.
//
// Nothing here blocks the event loop: the socket is non-blocking and read from a uv_poll
// watcher; the configuration acknowledgement is picked up by the same watcher.
#include "common.h"
#include "batch.h"
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Parallel uint32 arrays that follow the packet slots in the shared memory, in this order. */
enum { ARR_IDS, ARR_LENS, ARR_ORIG_LENS, ARR_MARKS, ARR_VERDICTS, ARR_INDEV, ARR_OUTDEV, ARR_INFO, ARR_COUNT };

/* Upper bound on rounds of recvmmsg per wake-up, so one busy queue cannot starve timers/IO. */
#define MAX_ROUNDS 16
/* Netlink and attribute headers around the payload: generous, so only huge copy ranges truncate. */
#define NL_OVERHEAD 1024
#define RUN_MSG_BYTES 48

typedef struct nfq {
  napi_env env;
  uv_poll_t poll;
  int fd;
  uint16_t queue;
  uint32_t batch, stride, copy_range, slot_size;
  uint8_t *mem; /* shared with JS (owned by the ArrayBuffer) */
  uint32_t *arr[ARR_COUNT];
  uint8_t *rx; /* private receive buffers, batch * slot_size */
  struct mmsghdr *msgs;
  struct iovec *iov;
  uint8_t *tx;
  size_t tx_cap;
  napi_ref ab_ref, on_batch, on_status, self_ref;
  napi_async_context actx;
  uint32_t seq, cfg_seq;
  int cfg_pending;
  int open, in_callback, close_requested, poll_closed, finalized;
  /* counters */
  uint64_t rx_packets, rx_batches, rx_syscalls, verdict_msgs, verdict_sends, enobufs, truncated,
      nl_errors, send_errors, cb_errors, unknown_msgs;
  int last_errno;
} nfq_t;

static void nfq_free(nfq_t *q) {
  free(q->rx);
  free(q->msgs);
  free(q->iov);
  free(q->tx);
  free(q);
}

static void on_poll_closed(uv_handle_t *h) {
  nfq_t *q = h->data;
  q->poll_closed = 1;
  if (q->finalized) nfq_free(q);
}

/* Stops reading, closes the socket (the kernel then drops whatever is still queued: instance
 * destruction flushes the queue with NF_DROP, or accepts with --queue-bypass fail-open), and
 * releases the JS references. Idempotent. */
static void nfq_do_close(nfq_t *q) {
  if (!q->open) return;
  q->open = 0;
  uv_poll_stop(&q->poll);
  uv_close((uv_handle_t *)&q->poll, on_poll_closed);
  if (q->fd >= 0) close(q->fd);
  q->fd = -1;
  napi_env env = q->env;
  if (q->ab_ref) napi_delete_reference(env, q->ab_ref);
  if (q->on_batch) napi_delete_reference(env, q->on_batch);
  if (q->on_status) napi_delete_reference(env, q->on_status);
  if (q->self_ref) napi_delete_reference(env, q->self_ref);
  if (q->actx) napi_async_destroy(env, q->actx);
  q->ab_ref = q->on_batch = q->on_status = q->self_ref = NULL;
  q->actx = NULL;
  q->mem = NULL;
  for (int i = 0; i < ARR_COUNT; i++) q->arr[i] = NULL;
}

static void nfq_finalize(napi_env env, void *data, void *hint) {
  nfq_t *q = data;
  q->finalized = 1;
  nfq_do_close(q);
  if (q->poll_closed) nfq_free(q);
}

/* ---- netlink message building ---- */

/* nfqueue messages carry the queue number in nfgenmsg.res_id and no address family. */
static size_t put_header(uint8_t *buf, uint16_t type, uint16_t flags, uint32_t seq, uint16_t queue) {
  return pal_nl_put_header(buf, (NFNL_SUBSYS_QUEUE << 8) | type, flags, seq, AF_UNSPEC, queue);
}

static int send_all(int fd, const void *buf, size_t len) {
  struct sockaddr_nl to = {.nl_family = AF_NETLINK};
  for (int tries = 0; tries < 4; tries++) {
    ssize_t n = sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof to);
    if (n >= 0) return 0;
    if (errno != EINTR && errno != EAGAIN && errno != ENOBUFS) return -errno;
  }
  return -errno;
}

/* ---- JS calls ---- */

static void call_status(nfq_t *q, napi_value err) {
  napi_env env = q->env;
  if (!q->on_status) return;
  if (err == NULL) napi_get_null(env, &err);
  q->in_callback++;
  if (pal_call_ref(env, q->actx, q->on_status, err) < 0) q->cb_errors++;
  q->in_callback--;
}

static void send_verdicts(nfq_t *q, uint32_t count) {
  uint32_t *ids = q->arr[ARR_IDS], *verd = q->arr[ARR_VERDICTS], *marks = q->arr[ARR_MARKS];
  size_t off = 0;
  uint32_t runs = 0;
  for (uint32_t i = 0; i < count;) {
    uint32_t v = verd[i], m = marks[i], j = i;
    /* Only drop, accept and repeat are meaningful answers here; anything else fails closed. */
    if (v != NF_DROP && v != NF_ACCEPT && v != NF_REPEAT) v = verd[i] = NF_DROP;
    while (j + 1 < count && verd[j + 1] == v && marks[j + 1] == m) j++;
    uint8_t *msg = q->tx + off;
    size_t len = put_header(msg, NFQNL_MSG_VERDICT_BATCH, 0, ++q->seq, q->queue);
    struct nfqnl_msg_verdict_hdr vh = {.verdict = htonl(v), .id = htonl(ids[j])};
    len = pal_nl_put_attr(msg, len, NFQA_VERDICT_HDR, &vh, sizeof vh);
    uint32_t bm = htonl(m);
    /* NFQA_MARK replaces skb->mark wholesale; marks[i] starts as the packet's own mark, so an
     * untouched entry re-sets the same value. */
    len = pal_nl_put_attr(msg, len, NFQA_MARK, &bm, sizeof bm);
    ((struct nlmsghdr *)msg)->nlmsg_len = (uint32_t)len;
    off += NLMSG_ALIGN(len);
    runs++;
    i = j + 1;
  }
  if (off == 0) return;
  int rc = send_all(q->fd, q->tx, off);
  if (rc < 0) {
    q->send_errors++;
    q->last_errno = -rc;
  } else {
    q->verdict_msgs += runs;
    q->verdict_sends++;
  }
}

static void deliver(nfq_t *q, uint32_t count) {
  napi_env env = q->env;
  uint32_t *verd = q->arr[ARR_VERDICTS];
  /* Unanswered means dropped: a judge that forgets a packet must not open traffic. */
  for (uint32_t i = 0; i < count; i++) verd[i] = NF_DROP;
  q->rx_packets += count;
  q->rx_batches++;
  napi_value arg;
  napi_create_uint32(env, count, &arg);
  q->in_callback++;
  int rc = pal_call_ref(env, q->actx, q->on_batch, arg);
  q->in_callback--;
  if (rc < 0) {
    q->cb_errors++;
    for (uint32_t i = 0; i < count; i++) verd[i] = NF_DROP;
  }
  if (q->fd >= 0) send_verdicts(q, count);
}

/* Parses one NFQNL_MSG_PACKET into slot `slot`. `len` may be shorter than nlmsg_len when the
 * datagram was truncated; whatever attributes fit are used (the id comes first). Returns 1 when
 * a packet id was found. */
static int parse_packet(nfq_t *q, const struct nlmsghdr *nlh, size_t len, uint32_t slot) {
  size_t hdr = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
  if (len < hdr) return 0;
  const uint8_t *p = (const uint8_t *)nlh + hdr;
  size_t rem = len - hdr;
  int have_id = 0;
  uint32_t id = 0, mark = 0, indev = 0, outdev = 0, caplen = 0, info = 0, plen = 0;
  const uint8_t *payload = NULL;
  while (rem >= NLA_HDRLEN) {
    const struct nlattr *a = (const struct nlattr *)p;
    size_t alen = a->nla_len;
    if (alen < NLA_HDRLEN) break;
    size_t dlen = (alen > rem ? rem : alen) - NLA_HDRLEN; /* clamp a truncated last attribute */
    const uint8_t *d = p + NLA_HDRLEN;
    switch (a->nla_type & NLA_TYPE_MASK) {
      case NFQA_PACKET_HDR:
        if (dlen >= sizeof(struct nfqnl_msg_packet_hdr)) {
          const struct nfqnl_msg_packet_hdr *ph = (const void *)d;
          id = ntohl(ph->packet_id);
          info = ((uint32_t)ntohs(ph->hw_protocol) << 16) | ((uint32_t)ph->hook << 8);
          have_id = 1;
        }
        break;
      case NFQA_MARK:
        if (dlen >= 4) mark = ntohl(*(const uint32_t *)d);
        break;
      case NFQA_IFINDEX_INDEV:
        if (dlen >= 4) indev = ntohl(*(const uint32_t *)d);
        break;
      case NFQA_IFINDEX_OUTDEV:
        if (dlen >= 4) outdev = ntohl(*(const uint32_t *)d);
        break;
      case NFQA_CAP_LEN:
        if (dlen >= 4) caplen = ntohl(*(const uint32_t *)d);
        break;
      case NFQA_SKB_INFO:
        if (dlen >= 4) info |= ntohl(*(const uint32_t *)d) & 0xff;
        break;
      case NFQA_PAYLOAD:
        payload = d;
        plen = (uint32_t)dlen;
        break;
      default:
        break;
    }
    size_t step = NLA_ALIGN(alen);
    if (step >= rem) break;
    p += step;
    rem -= step;
  }
  if (!have_id) return 0;
  uint32_t copy = plen < q->stride ? plen : q->stride;
  if (copy) memcpy(q->mem + (size_t)slot * q->stride, payload, copy);
  q->arr[ARR_IDS][slot] = id;
  q->arr[ARR_LENS][slot] = copy;
  /* NFQA_CAP_LEN is only sent when the payload was cut to copy_range: it is the real length. */
  q->arr[ARR_ORIG_LENS][slot] = caplen ? caplen : plen;
  q->arr[ARR_MARKS][slot] = mark;
  q->arr[ARR_INDEV][slot] = indev;
  q->arr[ARR_OUTDEV][slot] = outdev;
  q->arr[ARR_INFO][slot] = info;
  return 1;
}

static void handle_error_msg(nfq_t *q, const struct nlmsghdr *nlh, size_t len, napi_value *cfg_err) {
  if (len < NLMSG_HDRLEN + sizeof(struct nlmsgerr)) return;
  const struct nlmsgerr *e = NLMSG_DATA(nlh);
  int err = -e->error;
  if (q->cfg_pending && nlh->nlmsg_seq == q->cfg_seq) {
    q->cfg_pending = 0;
    if (err) {
      q->last_errno = err;
      *cfg_err = pal_errno_error(q->env, err, "NFQNL_MSG_CONFIG", "nfqueue bind");
    } else {
      napi_get_null(q->env, cfg_err); /* JS null: bound and configured */
    }
    return;
  }
  if (err) {
    q->nl_errors++;
    q->last_errno = err;
  }
}

static void on_readable(uv_poll_t *h, int status, int events) {
  nfq_t *q = h->data;
  napi_env env = q->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (status < 0) {
    napi_value err = pal_errno_error(env, -status, "uv_poll", "nfqueue receive");
    call_status(q, err);
    napi_close_handle_scope(env, scope);
    return;
  }
  napi_value cfg_result = NULL; /* NULL: no config answer seen; JS null: configured; Error: failed */
  napi_value runtime_err = NULL;
  for (int round = 0; round < MAX_ROUNDS && q->open && q->fd >= 0; round++) {
    for (uint32_t i = 0; i < q->batch; i++) q->msgs[i].msg_hdr.msg_flags = 0;
    int n = recvmmsg(q->fd, q->msgs, q->batch, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        /* The socket overflowed: the kernel already dropped (or, fail-open, accepted) what it
         * could not deliver; nothing is left waiting for us. Count it and keep reading. */
        q->enobufs++;
        continue;
      }
      q->last_errno = errno;
      runtime_err = pal_errno_error(env, errno, "recvmmsg", "nfqueue receive");
      break;
    }
    q->rx_syscalls++;
    uint32_t count = 0;
    for (int i = 0; i < n; i++) {
      size_t rem = q->msgs[i].msg_len;
      if (q->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) q->truncated++;
      const uint8_t *p = q->rx + (size_t)i * q->slot_size;
      if (rem > q->slot_size) rem = q->slot_size;
      while (rem >= NLMSG_HDRLEN) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *)p;
        size_t mlen = nlh->nlmsg_len;
        if (mlen < NLMSG_HDRLEN) break;
        if (mlen > rem) mlen = rem; /* truncated datagram: parse what arrived */
        if (nlh->nlmsg_type == NLMSG_ERROR) {
          handle_error_msg(q, nlh, mlen, &cfg_result);
        } else if (nlh->nlmsg_type == ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) {
          if (count == q->batch) { /* more packets than slots in one round: flush first */
            deliver(q, count);
            count = 0;
            if (!q->open || q->fd < 0) break;
          }
          if (parse_packet(q, nlh, mlen, count)) count++;
          else q->unknown_msgs++;
        } else if (nlh->nlmsg_type != NLMSG_DONE && nlh->nlmsg_type != NLMSG_NOOP) {
          q->unknown_msgs++;
        }
        size_t step = NLMSG_ALIGN(mlen);
        if (step >= rem) break;
        p += step;
        rem -= step;
      }
      if (!q->open) break;
    }
    if (count && q->open) deliver(q, count);
    if ((uint32_t)n < q->batch) break;
  }
  if (cfg_result != NULL && q->open) call_status(q, cfg_result);
  if (runtime_err != NULL && q->open) call_status(q, runtime_err);
  napi_close_handle_scope(env, scope);
}

/* nfqOpen({queue, copyRange, batch, maxLen, failOpen, gso, rcvbuf}, onBatch(n), onStatus(err|null))
 * -> handle { memory: ArrayBuffer, stride, batch, arraysOffset, queue }.
 * onStatus is called first with null (bound and configured) or an Error (e.g. EBUSY: another
 * process holds the queue, EPERM: not root), later with runtime errors. */
napi_value nfq_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  PAL_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t1, t2;
  if (argc < 3 || napi_typeof(env, argv[1], &t1) != napi_ok || napi_typeof(env, argv[2], &t2) != napi_ok ||
      t1 != napi_function || t2 != napi_function) {
    pal_throw_type(env, "nfqOpen(options, onBatch, onStatus): onBatch and onStatus must be functions");
    return NULL;
  }
  uint32_t queue, copy_range, batch, maxlen, rcvbuf;
  int fail_open, gso;
  if (pal_opt_u32(env, argv[0], "queue", 0, 0, 65535, &queue) < 0) return NULL;
  if (pal_opt_u32(env, argv[0], "copyRange", 128, 20, 65535, &copy_range) < 0) return NULL;
  if (pal_opt_u32(env, argv[0], "batch", 64, 1, 1024, &batch) < 0) return NULL;
  if (pal_opt_u32(env, argv[0], "maxLen", 4096, 1, 1u << 20, &maxlen) < 0) return NULL;
  if (pal_opt_u32(env, argv[0], "rcvbuf", 8u << 20, 65536, 1u << 30, &rcvbuf) < 0) return NULL;
  if (pal_opt_bool(env, argv[0], "failOpen", 0, &fail_open) < 0) return NULL;
  if (pal_opt_bool(env, argv[0], "gso", 1, &gso) < 0) return NULL;

  nfq_t *q = calloc(1, sizeof *q);
  if (!q) {
    pal_throw_errno(env, ENOMEM, "calloc", "nfqueue open");
    return NULL;
  }
  q->env = env;
  q->fd = -1;
  q->queue = (uint16_t)queue;
  q->batch = batch;
  q->copy_range = copy_range;
  q->stride = (copy_range + 63u) & ~63u;
  q->slot_size = copy_range + NL_OVERHEAD;
  q->rx = malloc((size_t)batch * q->slot_size);
  q->msgs = calloc(batch, sizeof *q->msgs);
  q->iov = calloc(batch, sizeof *q->iov);
  q->tx_cap = (size_t)batch * RUN_MSG_BYTES;
  q->tx = malloc(q->tx_cap);
  if (!q->rx || !q->msgs || !q->iov || !q->tx) {
    nfq_free(q);
    pal_throw_errno(env, ENOMEM, "malloc", "nfqueue open");
    return NULL;
  }
  for (uint32_t i = 0; i < batch; i++) {
    q->iov[i].iov_base = q->rx + (size_t)i * q->slot_size;
    q->iov[i].iov_len = q->slot_size;
    q->msgs[i].msg_hdr.msg_iov = &q->iov[i];
    q->msgs[i].msg_hdr.msg_iovlen = 1;
  }

  const char *failed = NULL;
  int fd = pal_nl_open_netfilter(&failed);
  if (fd < 0) {
    nfq_free(q);
    pal_throw_errno(env, -fd, failed, "nfqueue open");
    return NULL;
  }
  /* A deep receive buffer absorbs bursts of new connections; FORCE works for root beyond rmem_max. */
  int rb = (int)rcvbuf;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof rb) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
  q->fd = fd;

  /* One request: bind, copy mode/range, queue length, flags; the kernel applies them in that
   * order (nfqnl_recv_config) and answers once, picked up asynchronously by on_readable. */
  uint8_t cfg[256];
  size_t len = put_header(cfg, NFQNL_MSG_CONFIG, NLM_F_ACK, ++q->seq, q->queue);
  struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_BIND, .pf = 0};
  len = pal_nl_put_attr(cfg, len, NFQA_CFG_CMD, &cmd, sizeof cmd);
  struct nfqnl_msg_config_params params = {.copy_range = htonl(copy_range), .copy_mode = NFQNL_COPY_PACKET};
  len = pal_nl_put_attr(cfg, len, NFQA_CFG_PARAMS, &params, sizeof params);
  uint32_t ml = htonl(maxlen);
  len = pal_nl_put_attr(cfg, len, NFQA_CFG_QUEUE_MAXLEN, &ml, sizeof ml);
  /* F_GSO: hand us GSO super-packets unsegmented (we only read headers and never modify them).
   * F_FAIL_OPEN: when our socket buffer is full the kernel accepts instead of dropping; only
   * when the operator asked for fail-open. */
  uint32_t flags = (gso ? NFQA_CFG_F_GSO : 0) | (fail_open ? NFQA_CFG_F_FAIL_OPEN : 0);
  uint32_t mask = htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN), fl = htonl(flags);
  len = pal_nl_put_attr(cfg, len, NFQA_CFG_MASK, &mask, sizeof mask);
  len = pal_nl_put_attr(cfg, len, NFQA_CFG_FLAGS, &fl, sizeof fl);
  ((struct nlmsghdr *)cfg)->nlmsg_len = (uint32_t)len;
  q->cfg_seq = q->seq;
  q->cfg_pending = 1;

  /* Shared memory: packet slots, then the uint32 arrays (8-byte aligned). */
  pal_batch_mem_t bm;
  if (pal_batch_memory(env, batch, q->stride, ARR_COUNT, q->arr, &bm) < 0) {
    close(fd);
    nfq_free(q);
    return NULL;
  }
  q->mem = bm.mem;
  napi_value ab = bm.buffer, v;
  napi_value handle = pal_batch_handle(env, &bm, q->stride, batch);
  pal_set_u32(env, handle, "queue", queue);
  pal_set_u32(env, handle, "copyRange", copy_range);
  if (napi_wrap(env, handle, q, nfq_finalize, NULL, NULL) != napi_ok) {
    close(fd);
    nfq_free(q);
    pal_throw_pending(env, "napi_wrap");
    return NULL;
  }
  /* From here on the finalizer owns q. */
  q->open = 1;
  napi_create_reference(env, ab, 1, &q->ab_ref);
  napi_create_reference(env, argv[1], 1, &q->on_batch);
  napi_create_reference(env, argv[2], 1, &q->on_status);
  napi_create_reference(env, handle, 1, &q->self_ref); /* alive while open, whatever JS holds */
  napi_create_string_utf8(env, "palisade:nfqueue", NAPI_AUTO_LENGTH, &v);
  napi_async_init(env, NULL, v, &q->actx);

  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  int rc = uv_poll_init(loop, &q->poll, fd);
  if (rc < 0) {
    q->poll_closed = 1; /* never initialised: nothing for uv_close to do */
    q->open = 0;
    close(fd);
    q->fd = -1;
    pal_throw_errno(env, -rc, "uv_poll_init", "nfqueue open");
    return NULL;
  }
  q->poll.data = q;
  rc = uv_poll_start(&q->poll, UV_READABLE, on_readable);
  if (rc < 0) {
    nfq_do_close(q);
    pal_throw_errno(env, -rc, "uv_poll_start", "nfqueue open");
    return NULL;
  }
  int src = send_all(fd, cfg, len);
  if (src < 0) {
    nfq_do_close(q);
    pal_throw_errno(env, -src, "sendto(NFQNL_MSG_CONFIG)", "nfqueue open");
    return NULL;
  }
  return handle;
}

static nfq_t *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  return pal_unwrap_handle(env, info, argc, argv, "expected an nfqueue handle");
}

napi_value nfq_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  nfq_t *q = unwrap(env, info, &argc, argv);
  if (!q) return NULL;
  nfq_do_close(q);
  return NULL;
}

napi_value nfq_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  nfq_t *q = unwrap(env, info, &argc, argv);
  if (!q) return NULL;
  bool ref = true;
  if (argc > 1) napi_get_value_bool(env, argv[1], &ref);
  pal_poll_ref(&q->poll, q->open, ref);
  return NULL;
}

napi_value nfq_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], o;
  nfq_t *q = unwrap(env, info, &argc, argv);
  if (!q) return NULL;
  PAL_CALL(env, napi_create_object(env, &o));
  pal_set_u64(env, o, "packets", q->rx_packets);
  pal_set_u64(env, o, "batches", q->rx_batches);
  pal_set_u64(env, o, "recvCalls", q->rx_syscalls);
  pal_set_u64(env, o, "verdictMessages", q->verdict_msgs);
  pal_set_u64(env, o, "verdictSends", q->verdict_sends);
  pal_set_u64(env, o, "overruns", q->enobufs);
  pal_set_u64(env, o, "truncated", q->truncated);
  pal_set_u64(env, o, "netlinkErrors", q->nl_errors);
  pal_set_u64(env, o, "sendErrors", q->send_errors);
  pal_set_u64(env, o, "callbackErrors", q->cb_errors);
  pal_set_u64(env, o, "unknownMessages", q->unknown_msgs);
  pal_set_u32(env, o, "lastErrno", (uint32_t)q->last_errno);
  napi_value b;
  napi_get_boolean(env, q->open != 0, &b);
  napi_set_named_property(env, o, "open", b);
  return o;
}
