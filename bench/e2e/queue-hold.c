/*
 * For bench/e2e/netdev-queue-flush.sh (compiled by it; not part of the agent): binds NFQUEUE 0
 * over raw netlink and never gives a verdict, so the packets queued to it stay in the kernel
 * (/proc/net/netfilter/nfnetlink_queue, queue_total) until the kernel flushes them.
 */
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>
#include <stdio.h>
static int fd;
static void cfg(int type, const void *data, int len) {
  char buf[256] = {0};
  struct nlmsghdr *nh = (void *)buf;
  nh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_CONFIG;
  nh->nlmsg_flags = NLM_F_REQUEST;
  struct nfgenmsg *g = NLMSG_DATA(nh);
  g->nfgen_family = AF_UNSPEC; g->version = NFNETLINK_V0; g->res_id = htons(0);
  struct nlattr *a = (void *)((char *)g + NLMSG_ALIGN(sizeof *g));
  a->nla_type = type; a->nla_len = NLA_HDRLEN + len;
  memcpy((char *)a + NLA_HDRLEN, data, len);
  nh->nlmsg_len = NLMSG_LENGTH(NLMSG_ALIGN(sizeof *g) + NLA_ALIGN(a->nla_len));
  struct sockaddr_nl k = { .nl_family = AF_NETLINK };
  sendto(fd, buf, nh->nlmsg_len, 0, (void *)&k, sizeof k);
}
int main(void) {
  fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
  struct sockaddr_nl me = { .nl_family = AF_NETLINK };
  bind(fd, (void *)&me, sizeof me);
  struct nfqnl_msg_config_cmd c = { .command = NFQNL_CFG_CMD_BIND, .pf = 0};
  cfg(NFQA_CFG_CMD, &c, sizeof c);
  struct nfqnl_msg_config_params p = { .copy_range = htonl(64), .copy_mode = NFQNL_COPY_META };
  cfg(NFQA_CFG_PARAMS, &p, sizeof p);
  char b[65536];
  for (;;) if (recv(fd, b, sizeof b, 0) < 0) break;
  return 0;
}
