// The verdict cache's kernel side: adds (source, protocol:port, destination) entries to an ipset
// of type hash:ip,port,ip and flushes it, over nfnetlink (NFNL_SUBSYS_IPSET), with no library.
//
//   ipsetOpen() -> fd                       a NETLINK_NETFILTER socket (non-blocking)
//   ipsetAdd(fd, name, family, entries, count, timeoutSeconds) -> errors drained so far
//       entries: Int32Array, 10 words an entry: source words 0-3, destination words 0-3 (IPv4
//       uses word 0; address words as in src/net/address.ts), protocol, port. One datagram of
//       IPSET_CMD_ADD messages, no ACK asked: the kernel answers only failures, which are read
//       back (without waiting) and counted. A failed add only means that connection's next
//       sibling is judged in userspace again, so nothing waits on it.
//   ipsetFlush(fd, name)                    IPSET_CMD_FLUSH with an ACK; throws on failure.
//       Netlink requests to the kernel run inside sendmsg(), so when this returns the set is
//       empty: the caller can then publish new rules knowing no stale verdict can admit a packet.
//   ipsetSwap(fd, a, b)                     IPSET_CMD_SWAP with an ACK; throws on failure. The two
//       sets trade contents atomically (rules name the set, so a rule matching `a` now sees b's
//       entries): the verdict cache empties its live set this way and reads the counters of what
//       it swapped out at leisure, so no packet counted between a read and a flush is lost.
//   ipsetClose(fd)
//
// Attribute shapes follow the kernel's ip_set_core.c / ip_set_hash_ipportip.c: IPSET_ATTR_DATA and
// the IP attributes are nested (NLA_F_NESTED), and addresses, the port and the timeout carry
// NLA_F_NET_BYTEORDER. Without NLM_F_EXCL an existing entry is not an error; its timeout restarts.
#include "common.h"
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ENTRY_WORDS 10
#define MSG_CAP (1 << 16)

static uint8_t tx[MSG_CAP];
static uint32_t seq = 1;

static size_t put_header(uint8_t *msg, uint8_t cmd, uint16_t flags, uint8_t family) {
  size_t len = pal_nl_put_header(msg, (NFNL_SUBSYS_IPSET << 8) | cmd, flags, seq++, family, 0);
  uint8_t proto = IPSET_PROTOCOL;
  return pal_nl_put_attr(msg, len, IPSET_ATTR_PROTOCOL, &proto, 1);
}

static size_t put_ip(uint8_t *msg, size_t len, uint16_t type, int family, const int32_t *w) {
  size_t at;
  len = pal_nl_nest_start(msg, len, type, &at);
  if (family == 4) {
    uint32_t a = htonl((uint32_t)w[0]);
    len = pal_nl_put_attr(msg, len, IPSET_ATTR_IPADDR_IPV4 | NLA_F_NET_BYTEORDER, &a, 4);
  } else {
    uint32_t a[4];
    for (int i = 0; i < 4; i++) a[i] = htonl((uint32_t)w[i]);
    len = pal_nl_put_attr(msg, len, IPSET_ATTR_IPADDR_IPV6 | NLA_F_NET_BYTEORDER, a, 16);
  }
  pal_nl_nest_end(msg, at, len);
  return len;
}

static int send_kernel(int fd, const uint8_t *buf, size_t len) {
  struct sockaddr_nl to = {.nl_family = AF_NETLINK};
  for (;;) {
    ssize_t n = sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof to);
    if (n >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

/* Reads every queued answer without waiting. Returns the number of error answers; *ack_err gets
 * the status of the answer to `want_seq` (0 ok, negative errno) when it is among them. */
static uint32_t drain(int fd, uint32_t want_seq, int *ack_seen, int *ack_err) {
  uint8_t rx[8192];
  uint32_t errors = 0;
  for (;;) {
    ssize_t n = recv(fd, rx, sizeof rx, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      break; /* EAGAIN: nothing more; ENOBUFS: answers were lost, which only loses counts */
    }
    size_t rem = (size_t)n;
    const uint8_t *p = rx;
    while (rem >= NLMSG_HDRLEN) {
      const struct nlmsghdr *h = (const struct nlmsghdr *)p;
      if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > rem) break;
      if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_len >= NLMSG_HDRLEN + sizeof(struct nlmsgerr)) {
        const struct nlmsgerr *e = (const struct nlmsgerr *)NLMSG_DATA(h);
        if (h->nlmsg_seq == want_seq && ack_seen) {
          *ack_seen = 1;
          *ack_err = e->error;
        } else if (e->error != 0) {
          errors++;
        }
      }
      size_t step = NLMSG_ALIGN(h->nlmsg_len);
      if (step >= rem) break;
      p += step;
      rem -= step;
    }
  }
  return errors;
}

static int get_fd(napi_env env, napi_value v, int *fd) {
  int32_t x;
  if (napi_get_value_int32(env, v, &x) != napi_ok || x < 0) {
    pal_throw_type(env, "ipset: the first argument must be the fd from ipsetOpen()");
    return -1;
  }
  *fd = x;
  return 0;
}

static int get_name(napi_env env, napi_value v, char *name) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, name, IPSET_MAXNAMELEN, &n) != napi_ok || n == 0 || n >= IPSET_MAXNAMELEN - 1) {
    pal_throw_type(env, "ipset: the set name must be a string of 1 to 30 bytes");
    return -1;
  }
  return 0;
}

napi_value ipset_open(napi_env env, napi_callback_info info) {
  const char *failed = NULL;
  int fd = pal_nl_open_netfilter(&failed);
  if (fd < 0) {
    pal_throw_errno(env, -fd, failed, "ipset open");
    return NULL;
  }
  napi_value out;
  PAL_CALL(env, napi_create_int32(env, fd, &out));
  return out;
}

napi_value ipset_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  PAL_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  if (argc < 1 || get_fd(env, argv[0], &fd) < 0) return NULL;
  close(fd);
  return NULL;
}

napi_value ipset_add(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  PAL_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    pal_throw_type(env, "ipsetAdd(fd, name, family, entries, count, timeoutSeconds)");
    return NULL;
  }
  int fd;
  char name[IPSET_MAXNAMELEN];
  uint32_t family, count, timeout;
  if (get_fd(env, argv[0], &fd) < 0 || get_name(env, argv[1], name) < 0) return NULL;
  if (napi_get_value_uint32(env, argv[2], &family) != napi_ok || (family != 4 && family != 6)) {
    pal_throw_type(env, "ipsetAdd: family must be 4 or 6");
    return NULL;
  }
  bool is_ta = false;
  napi_typedarray_type tt;
  size_t tlen = 0;
  void *data = NULL;
  if (napi_is_typedarray(env, argv[3], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[3], &tt, &tlen, &data, NULL, NULL) != napi_ok || tt != napi_int32_array) {
    pal_throw_type(env, "ipsetAdd: entries must be an Int32Array");
    return NULL;
  }
  if (napi_get_value_uint32(env, argv[4], &count) != napi_ok || (size_t)count * ENTRY_WORDS > tlen) {
    pal_throw_type(env, "ipsetAdd: count exceeds the entries given");
    return NULL;
  }
  if (napi_get_value_uint32(env, argv[5], &timeout) != napi_ok) {
    pal_throw_type(env, "ipsetAdd: timeoutSeconds must be a whole number");
    return NULL;
  }
  const int32_t *e = data;
  uint32_t errors = 0;
  size_t off = 0;
  for (uint32_t i = 0; i < count; i++, e += ENTRY_WORDS) {
    if (off + 256 > MSG_CAP) { /* datagram full: send what we have */
      if (send_kernel(fd, tx, off) < 0) errors++;
      off = 0;
    }
    uint8_t *msg = tx + off;
    size_t len = put_header(msg, IPSET_CMD_ADD, 0, family == 4 ? AF_INET : AF_INET6);
    len = pal_nl_put_attr(msg, len, IPSET_ATTR_SETNAME, name, (uint16_t)(strlen(name) + 1));
    size_t data_at;
    len = pal_nl_nest_start(msg, len, IPSET_ATTR_DATA, &data_at);
    len = put_ip(msg, len, IPSET_ATTR_IP, (int)family, e);
    len = put_ip(msg, len, IPSET_ATTR_IP2, (int)family, e + 4);
    uint16_t port = htons((uint16_t)e[9]);
    len = pal_nl_put_attr(msg, len, IPSET_ATTR_PORT | NLA_F_NET_BYTEORDER, &port, 2);
    uint8_t proto = (uint8_t)e[8];
    len = pal_nl_put_attr(msg, len, IPSET_ATTR_PROTO, &proto, 1);
    if (timeout > 0) {
      uint32_t to = htonl(timeout);
      len = pal_nl_put_attr(msg, len, IPSET_ATTR_TIMEOUT | NLA_F_NET_BYTEORDER, &to, 4);
    }
    pal_nl_nest_end(msg, data_at, len);
    ((struct nlmsghdr *)msg)->nlmsg_len = (uint32_t)len;
    off += NLMSG_ALIGN(len);
  }
  if (off > 0 && send_kernel(fd, tx, off) < 0) errors++;
  errors += drain(fd, 0, NULL, NULL);
  napi_value out;
  PAL_CALL(env, napi_create_uint32(env, errors, &out));
  return out;
}

static napi_value acked(napi_env env, int fd, uint8_t cmd, const char *name, const char *name2, const char *what) {
  size_t len = put_header(tx, cmd, NLM_F_ACK, AF_INET);
  uint32_t my_seq = ((struct nlmsghdr *)tx)->nlmsg_seq;
  len = pal_nl_put_attr(tx, len, IPSET_ATTR_SETNAME, name, (uint16_t)(strlen(name) + 1));
  if (name2) len = pal_nl_put_attr(tx, len, IPSET_ATTR_SETNAME2, name2, (uint16_t)(strlen(name2) + 1));
  ((struct nlmsghdr *)tx)->nlmsg_len = (uint32_t)len;
  int rc = send_kernel(fd, tx, len);
  if (rc < 0) {
    pal_throw_errno(env, -rc, "sendto", what);
    return NULL;
  }
  int seen = 0, err = 0;
  drain(fd, my_seq, &seen, &err);
  if (!seen) {
    /* The kernel handled the request inside sendto(); its answer is always queued by now. */
    pal_throw_errno(env, EPROTO, "recv", what);
    return NULL;
  }
  if (err != 0) {
    /* ipset's own codes (IPSET_ERR_*, 4096 and up) have no errno name: report ENOENT-like. */
    pal_throw_errno(env, -err < 4096 ? -err : ENOENT, what, name);
    return NULL;
  }
  return NULL;
}

napi_value ipset_flush(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  PAL_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  char name[IPSET_MAXNAMELEN];
  if (argc < 2 || get_fd(env, argv[0], &fd) < 0 || get_name(env, argv[1], name) < 0) return NULL;
  return acked(env, fd, IPSET_CMD_FLUSH, name, NULL, "IPSET_CMD_FLUSH");
}

napi_value ipset_swap(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  PAL_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  char a[IPSET_MAXNAMELEN], b[IPSET_MAXNAMELEN];
  if (argc < 3 || get_fd(env, argv[0], &fd) < 0 || get_name(env, argv[1], a) < 0 || get_name(env, argv[2], b) < 0) return NULL;
  return acked(env, fd, IPSET_CMD_SWAP, a, b, "IPSET_CMD_SWAP");
}
