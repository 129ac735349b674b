/*
 * For bench/e2e.ts's mode `queue-floor` (compiled by the bench into its temporary folder with
 * `cc -O2`; not part of the agent): binds one NFQUEUE over raw netlink and accepts every packet
 * queued to it, judging nothing. It is the least any NFQUEUE consumer can cost: the kernel's
 * copy of the packet to the socket, the wake-up of a reader asleep in the kernel, the verdict's
 * netlink message and the reinjection. `nfqueue` minus `queue-floor` in the same round is what
 * the agent adds on top (Node's event loop, the judge, its verdict cache, its own rules).
 *
 *   queue-floor QUEUE [spin|hold]
 *
 * It reads as the agent's addon does (native/src/nfqueue.c): up to 64 datagrams a recvmmsg, the
 * same copy range (128 bytes), queue length, receive buffer and GSO flag, and one
 * NFQNL_MSG_VERDICT_BATCH naming the highest id read (the kernel applies a batch verdict to
 * every queued id up to it). Blocking reads; with `spin` it polls without sleeping instead
 * (MSG_DONTWAIT in a loop, one core busy for good), to show what the sleep and wake-up cost.
 * With `hold` it reads and never answers, so what is queued stays in the kernel
 * (/proc/net/netfilter/nfnetlink_queue, queue_total) until the kernel flushes it: what
 * bench/e2e/queue-hold-setup.sh needs for the queue-flush checks.
 * Prints "bound" on stdout once the kernel has acknowledged the configuration.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define SLOT 2048
#define VERDICT_ACCEPT 1 /* NF_ACCEPT (linux/netfilter.h clashes with netinet/in.h) */

static int fd;
static uint16_t queue;
static uint32_t seq;

static size_t put_attr(uint8_t *buf, size_t len, uint16_t type, const void *data, uint16_t dlen) {
  struct nlattr *a = (struct nlattr *)(buf + len);
  a->nla_type = type;
  a->nla_len = (uint16_t)(NLA_HDRLEN + dlen);
  memcpy(buf + len + NLA_HDRLEN, data, dlen);
  return len + NLA_ALIGN(a->nla_len);
}

static size_t put_header(uint8_t *buf, uint16_t type, uint16_t flags) {
  struct nlmsghdr *nh = (struct nlmsghdr *)buf;
  memset(buf, 0, NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
  nh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
  nh->nlmsg_flags = NLM_F_REQUEST | flags;
  nh->nlmsg_seq = ++seq;
  struct nfgenmsg *g = NLMSG_DATA(nh);
  g->nfgen_family = AF_UNSPEC;
  g->version = NFNETLINK_V0;
  g->res_id = htons(queue);
  return NLMSG_HDRLEN + NLMSG_ALIGN(sizeof *g);
}

static void send_msg(uint8_t *buf, size_t len) {
  ((struct nlmsghdr *)buf)->nlmsg_len = (uint32_t)len;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, buf, len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    perror("queue-floor: sendto");
    exit(1);
  }
}

/* The packet id of an NFQNL_MSG_PACKET message, or 0 when it has none. */
static uint32_t packet_id(const struct nlmsghdr *nh) {
  const uint8_t *p = (const uint8_t *)NLMSG_DATA(nh) + NLMSG_ALIGN(sizeof(struct nfgenmsg));
  const uint8_t *end = (const uint8_t *)nh + nh->nlmsg_len;
  while (p + NLA_HDRLEN <= end) {
    const struct nlattr *a = (const struct nlattr *)p;
    if (a->nla_len < NLA_HDRLEN) break;
    if ((a->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR && a->nla_len >= NLA_HDRLEN + sizeof(struct nfqnl_msg_packet_hdr))
      return ntohl(((const struct nfqnl_msg_packet_hdr *)(p + NLA_HDRLEN))->packet_id);
    p += NLA_ALIGN(a->nla_len);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: queue-floor QUEUE [spin|hold]\n");
    return 2;
  }
  queue = (uint16_t)atoi(argv[1]);
  int spin = argc > 2 && strcmp(argv[2], "spin") == 0;
  int hold = argc > 2 && strcmp(argv[2], "hold") == 0;
  fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
  struct sockaddr_nl me = {.nl_family = AF_NETLINK};
  if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof me) < 0) {
    perror("queue-floor: netlink socket");
    return 1;
  }
  int rb = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof rb);

  uint8_t cfg[256];
  size_t len = put_header(cfg, NFQNL_MSG_CONFIG, NLM_F_ACK);
  struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_BIND};
  len = put_attr(cfg, len, NFQA_CFG_CMD, &cmd, sizeof cmd);
  struct nfqnl_msg_config_params params = {.copy_range = htonl(128), .copy_mode = NFQNL_COPY_PACKET};
  len = put_attr(cfg, len, NFQA_CFG_PARAMS, &params, sizeof params);
  uint32_t maxlen = htonl(4096);
  len = put_attr(cfg, len, NFQA_CFG_QUEUE_MAXLEN, &maxlen, sizeof maxlen);
  uint32_t flags = htonl(NFQA_CFG_F_GSO);
  len = put_attr(cfg, len, NFQA_CFG_FLAGS, &flags, sizeof flags);
  len = put_attr(cfg, len, NFQA_CFG_MASK, &flags, sizeof flags);
  send_msg(cfg, len);

  static uint8_t rx[BATCH][SLOT];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  for (int i = 0; i < BATCH; i++) {
    iov[i] = (struct iovec){.iov_base = rx[i], .iov_len = SLOT};
    msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
  }
  uint8_t tx[128];
  for (;;) {
    int n = recvmmsg(fd, msgs, BATCH, spin ? MSG_DONTWAIT : MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) continue;
      perror("queue-floor: recvmmsg");
      return 1;
    }
    uint32_t last = 0;
    for (int i = 0; i < n; i++) {
      size_t rem = msgs[i].msg_len;
      const uint8_t *p = rx[i];
      while (rem >= NLMSG_HDRLEN) {
        const struct nlmsghdr *nh = (const struct nlmsghdr *)p;
        if (nh->nlmsg_len < NLMSG_HDRLEN || nh->nlmsg_len > rem) break;
        if (nh->nlmsg_type == NLMSG_ERROR) {
          const struct nlmsgerr *e = NLMSG_DATA(nh);
          if (e->error != 0) {
            fprintf(stderr, "queue-floor: queue %u: configuration refused: %s\n", queue, strerror(-e->error));
            return 1;
          }
          if (e->msg.nlmsg_seq == 1) {
            printf("bound\n");
            fflush(stdout);
          }
        } else if (nh->nlmsg_type == ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) {
          uint32_t id = packet_id(nh);
          if (id > last) last = id;
        }
        size_t step = NLMSG_ALIGN(nh->nlmsg_len);
        if (step >= rem) break;
        p += step;
        rem -= step;
      }
    }
    if (last == 0 || hold) continue;
    len = put_header(tx, NFQNL_MSG_VERDICT_BATCH, 0);
    struct nfqnl_msg_verdict_hdr vh = {.verdict = htonl(VERDICT_ACCEPT), .id = htonl(last)};
    len = put_attr(tx, len, NFQA_VERDICT_HDR, &vh, sizeof vh);
    send_msg(tx, len);
  }
}
