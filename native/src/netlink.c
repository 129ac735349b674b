#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int pal_nl_open_netfilter(const char **failed) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) {
    *failed = "socket(NETLINK_NETFILTER)";
    return -errno;
  }
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
    int e = errno;
    close(fd);
    *failed = "bind";
    return -e;
  }
  return fd;
}

size_t pal_nl_put_header(uint8_t *buf, uint16_t type, uint16_t flags, uint32_t seq, uint8_t family, uint16_t res_id) {
  struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
  nlh->nlmsg_len = 0;
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = seq;
  nlh->nlmsg_pid = 0;
  struct nfgenmsg *g = (struct nfgenmsg *)(buf + NLMSG_HDRLEN);
  g->nfgen_family = family;
  g->version = NFNETLINK_V0;
  g->res_id = htons(res_id);
  return NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
}

size_t pal_nl_put_attr(uint8_t *buf, size_t off, uint16_t type, const void *data, uint16_t len) {
  struct nlattr *a = (struct nlattr *)(buf + off);
  a->nla_type = type;
  a->nla_len = (uint16_t)(NLA_HDRLEN + len);
  if (len) memcpy(buf + off + NLA_HDRLEN, data, len);
  size_t total = NLA_ALIGN(NLA_HDRLEN + len);
  memset(buf + off + NLA_HDRLEN + len, 0, total - NLA_HDRLEN - len);
  return off + total;
}

size_t pal_nl_nest_start(uint8_t *buf, size_t off, uint16_t type, size_t *at) {
  *at = off;
  return pal_nl_put_attr(buf, off, type | NLA_F_NESTED, NULL, 0);
}

void pal_nl_nest_end(uint8_t *buf, size_t at, size_t end) { ((struct nlattr *)(buf + at))->nla_len = (uint16_t)(end - at); }
