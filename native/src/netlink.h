// Netlink pieces nfqueue.c and ipset.c share: a bound NETLINK_NETFILTER socket, and the
// nfnetlink header and attribute writers (netlink(7), linux/netfilter/nfnetlink.h).
#ifndef PALISADE_NETLINK_H
#define PALISADE_NETLINK_H

#include <stddef.h>
#include <stdint.h>

/** A non-blocking, close-on-exec NETLINK_NETFILTER socket bound to a kernel-chosen port id.
 * Returns the fd, or -errno with `*failed` naming the call that failed. */
int pal_nl_open_netfilter(const char **failed);

/** Writes an nlmsghdr (REQUEST | flags) and an nfgenmsg at buf; returns the offset after them. */
size_t pal_nl_put_header(uint8_t *buf, uint16_t type, uint16_t flags, uint32_t seq, uint8_t family, uint16_t res_id);

/** Appends attribute `type` with `len` bytes of `data` (none when len is 0), zero-padded to
 * NLA_ALIGN; returns the offset after it. */
size_t pal_nl_put_attr(uint8_t *buf, size_t off, uint16_t type, const void *data, uint16_t len);

/** Opens a nested attribute (NLA_F_NESTED) at off; close it with pal_nl_nest_end(buf, *at, end). */
size_t pal_nl_nest_start(uint8_t *buf, size_t off, uint16_t type, size_t *at);
void pal_nl_nest_end(uint8_t *buf, size_t at, size_t end);

#endif
