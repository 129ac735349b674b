/*
 * Load generator for bench/e2e.ts (compiled by the bench into its temporary folder with
 * `cc -O2 -pthread`; it is not part of the agent). Plain C so that the client is not the
 * bottleneck of the measurement: a Node client spends more CPU per connect() than the path it
 * measures on a 2-core machine, and adds event-loop jitter to every latency sample.
 *
 *   loadgen serve PORT THREADS [NPORTS]
 *       TCP server on 0.0.0.0:PORT (..PORT+NPORTS-1), THREADS SO_REUSEPORT listeners per port
 *       each with its own thread: accepts and closes, forever (killed by the bench).
 *   loadgen conn HOST PORT THREADS SECONDS
 *       THREADS threads each open blocking connections back to back for SECONDS; every
 *       connection is reset as soon as connect() returns (SO_LINGER 0: an RST, no TIME_WAIT, so
 *       the client's port range never runs dry). Prints JSON: connections, failures, perSecond
 *       and connect() latency percentiles in microseconds. THREADS=1 gives the "one connection
 *       at a time" latency: each sample is one SYN -> SYN/ACK through the path, with nothing
 *       queued in front of it. cpuUs: this process's CPU time (see cpu_us).
 *   loadgen tuples SRC0 NSRC DST PORT0 NPORTS THREADS SECONDS FIRSTPCT COLD0
 *       Like conn, over many (client address, server port) tuples: client addresses SRC0 and the
 *       NSRC-1 that follow (the bench adds them to pod a), ports PORT0..PORT0+NPORTS-1. 64 "warm"
 *       tuples are connected once before the clock starts; then each connection takes, with
 *       probability FIRSTPCT %, the next never-used ("first") tuple, else a random warm one. A
 *       first connection is the first of its (source, port, destination) in the run, so no
 *       verdict cache can know it. Adds firstConnections and coldExhausted (first tuples ran
 *       out and warm ones were used instead: raise NSRC or NPORTS) to conn's JSON. First tuples
 *       are taken in order from number COLD0 on; nextCold (JSON) is where the next run starts,
 *       so runs against one agent never reuse a tuple it may have cached.
 *   loadgen udp SRC DST DPORT NPORTS SECONDS RATE
 *       Sends minimal UDP datagrams SRC -> DST from a raw socket (IP_HDRINCL) so that each
 *       datagram has its own (source port, destination port) pair: source ports 1024..65535 for
 *       each destination port DPORT..DPORT+NPORTS-1. No tuple repeats within a run (the bench
 *       sizes NPORTS for that), so every datagram is a NEW conntrack entry on the node and is
 *       judged. RATE=0 sends as fast as the socket takes them; otherwise paces to RATE per
 *       second. Prints JSON: sent, errors, seconds, perSecond, tupleSpace, cpuUs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU this process used (user + system, all threads), microseconds. With tick-based accounting
 * the softirq work done on our syscalls' behalf (the forwarding path) is charged here too. */
static double cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void die(const char *what) {
  fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* One listener per thread with SO_REUSEPORT: the kernel spreads SYNs over the listeners, so the
 * server side has no single listen-socket lock or accept queue for all connections. */
static void *serve_loop(void *arg) {
  int s = *(int *)arg;
  for (;;) {
    int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
    if (c >= 0) close(c);
    else if (errno != EINTR && errno != ECONNABORTED && errno != EMFILE && errno != ENFILE) die("accept");
  }
  return NULL;
}

static _Noreturn void serve(int port, int threads, int nports) {
  static int socks[1024];
  if (threads < 1 || nports < 1 || threads * nports > 1024 || port + nports - 1 > 65535) {
    fprintf(stderr, "loadgen: server THREADS x NPORTS must be 1..1024 and ports within 65535\n");
    exit(2);
  }
  threads *= nports;
  for (int i = 0; i < threads; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) die("socket");
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(port + i % nports)), .sin_addr = {htonl(INADDR_ANY)}};
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(s, 4096) < 0) die("listen");
    socks[i] = s;
  }
  printf("listening\n");
  fflush(stdout);
  for (int i = 1; i < threads; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, serve_loop, &socks[i]) != 0) die("pthread_create");
  }
  serve_loop(&socks[0]);
  exit(0);
}

/* ---- conn ---------------------------------------------------------------------------------- */

#define MAX_SAMPLES (1u << 21)

struct worker {
  pthread_t t;
  struct sockaddr_in dst;
  double end;
  uint32_t *lat_ns; /* connect() latencies, ns (saturating) */
  uint32_t n, failures;
  /* tuples mode only */
  uint64_t rng;
  uint32_t first, exhausted;
};

/* tuples mode: client addresses src0..src0+nsrc-1 (host order), ports port0..port0+nports-1. */
static struct {
  int on;
  uint32_t src0, nsrc;
  int port0, nports;
  uint32_t first_permille;
  uint64_t next_cold; /* atomic */
} tup;

#define WARM 64
/* Tuple (source index, port index); warm tuple w is (w, w % nports). */
static int is_warm(uint32_t si, uint32_t pi) { return si < WARM && pi == si % (uint32_t)tup.nports; }

static uint64_t xorshift(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

/* Picks the tuple of the next connection: source address (network order) and port. */
static void pick(struct worker *w, struct sockaddr_in *src, struct sockaddr_in *dst) {
  uint32_t si, pi;
  if (xorshift(&w->rng) % 1000 < tup.first_permille) {
    uint64_t space = (uint64_t)tup.nsrc * (uint64_t)tup.nports;
    for (;;) {
      uint64_t k = __atomic_fetch_add(&tup.next_cold, 1, __ATOMIC_RELAXED);
      if (k >= space) {
        w->exhausted++;
        goto warm;
      }
      si = (uint32_t)(k % tup.nsrc);
      pi = (uint32_t)(k / tup.nsrc);
      if (!is_warm(si, pi)) break;
    }
    w->first++;
  } else {
  warm:;
    uint32_t wi = (uint32_t)(xorshift(&w->rng) % WARM);
    si = wi;
    pi = wi % (uint32_t)tup.nports;
  }
  src->sin_addr.s_addr = htonl(tup.src0 + si);
  dst->sin_port = htons((uint16_t)(tup.port0 + (int)pi));
}

static void *conn_loop(void *arg) {
  struct worker *w = arg;
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  struct timeval to = {.tv_sec = 2, .tv_usec = 0};
  struct timespec t0, t1;
  struct sockaddr_in src = {.sin_family = AF_INET};
  while (now() < w->end) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
      w->failures++;
      continue;
    }
    if (tup.on) {
      pick(w, &src, &w->dst);
      if (bind(s, (struct sockaddr *)&src, sizeof src) < 0) {
        w->failures++;
        close(s);
        continue;
      }
    }
    /* On Linux SO_SNDTIMEO bounds a blocking connect(): a dropped SYN costs 2 s, not minutes. */
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &to, sizeof to);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = connect(s, (struct sockaddr *)&w->dst, sizeof w->dst);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (r == 0) {
      uint64_t ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull + (uint64_t)(t1.tv_nsec - t0.tv_nsec);
      if (w->n < MAX_SAMPLES) w->lat_ns[w->n] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
      w->n++;
      setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    } else {
      w->failures++;
    }
    close(s);
  }
  return NULL;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static int conn(const char *host, int port, int threads, double seconds) {
  if (threads < 1 || threads > 256) {
    fprintf(stderr, "loadgen: THREADS must be 1..256\n");
    return 2;
  }
  struct worker *ws = calloc((size_t)threads, sizeof *ws);
  double start = now();
  for (int i = 0; i < threads; i++) {
    ws[i].dst.sin_family = AF_INET;
    ws[i].dst.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &ws[i].dst.sin_addr) != 1) {
      fprintf(stderr, "loadgen: bad IPv4 address %s\n", host);
      return 2;
    }
    ws[i].end = start + seconds;
    ws[i].rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(i + 1) * 0xbf58476d1ce4e5b9ull);
    ws[i].lat_ns = malloc(MAX_SAMPLES * sizeof(uint32_t));
    if (!ws[i].lat_ns) die("malloc");
    if (pthread_create(&ws[i].t, NULL, conn_loop, &ws[i]) != 0) die("pthread_create");
  }
  uint64_t total = 0, kept = 0, failures = 0, first = 0, exhausted = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(ws[i].t, NULL);
    first += ws[i].first;
    exhausted += ws[i].exhausted;
    total += ws[i].n;
    kept += ws[i].n < MAX_SAMPLES ? ws[i].n : MAX_SAMPLES;
    failures += ws[i].failures;
  }
  double secs = now() - start;
  uint32_t *all = malloc((kept ? kept : 1) * sizeof(uint32_t));
  uint64_t k = 0;
  for (int i = 0; i < threads; i++) {
    uint32_t m = ws[i].n < MAX_SAMPLES ? ws[i].n : MAX_SAMPLES;
    memcpy(all + k, ws[i].lat_ns, m * sizeof(uint32_t));
    k += m;
  }
  qsort(all, kept, sizeof(uint32_t), cmp_u32);
#define Q(p) (kept ? all[(uint64_t)((p) * (double)kept) < kept ? (uint64_t)((p) * (double)kept) : kept - 1] / 1000.0 : -1.0)
  printf("{\"connections\":%llu,\"failures\":%llu,\"seconds\":%.3f,\"perSecond\":%.0f,"
         "\"p50Us\":%.1f,\"p90Us\":%.1f,\"p99Us\":%.1f,\"maxUs\":%.1f,\"cpuUs\":%.0f,"
         "\"firstConnections\":%llu,\"coldExhausted\":%llu,\"nextCold\":%llu}\n",
         (unsigned long long)total, (unsigned long long)failures, secs, (double)total / secs,
         Q(0.5), Q(0.9), Q(0.99), kept ? all[kept - 1] / 1000.0 : -1.0, cpu_us(),
         (unsigned long long)first, (unsigned long long)exhausted, (unsigned long long)tup.next_cold);
  return 0;
}

/* ---- udp ----------------------------------------------------------------------------------- */

#define BATCH 64
#define PAYLOAD 18 /* 20 IP + 8 UDP + 18 = 46: the minimum Ethernet payload */

struct dgram {
  struct iphdr ip;
  struct udphdr udp;
  char data[PAYLOAD];
} __attribute__((packed));

static int udp(const char *src, const char *dst, int dport, int nports, double seconds, double rate) {
  if (nports < 1 || dport < 1 || dport + nports - 1 > 65535) {
    fprintf(stderr, "loadgen: DPORT..DPORT+NPORTS-1 must be within 1..65535\n");
    return 2;
  }
  int s = socket(AF_INET, SOCK_RAW, IPPROTO_RAW); /* IPPROTO_RAW implies IP_HDRINCL */
  if (s < 0) die("raw socket (needs CAP_NET_RAW)");
  int sndbuf = 4 << 20;
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  struct sockaddr_in to = {.sin_family = AF_INET};
  struct in_addr saddr;
  if (inet_pton(AF_INET, dst, &to.sin_addr) != 1 || inet_pton(AF_INET, src, &saddr) != 1) {
    fprintf(stderr, "loadgen: bad IPv4 address\n");
    return 2;
  }
  static struct dgram pk[BATCH];
  static struct iovec iov[BATCH];
  static struct mmsghdr msg[BATCH];
  for (int i = 0; i < BATCH; i++) {
    memset(&pk[i], 0, sizeof pk[i]);
    pk[i].ip.version = 4;
    pk[i].ip.ihl = 5;
    pk[i].ip.ttl = 64;
    pk[i].ip.protocol = IPPROTO_UDP;
    pk[i].ip.saddr = saddr.s_addr;
    pk[i].ip.daddr = to.sin_addr.s_addr;
    /* tot_len, id and the IP checksum are filled by the kernel for IP_HDRINCL sockets (raw(7)). */
    pk[i].udp.len = htons(sizeof(struct udphdr) + PAYLOAD);
    pk[i].udp.check = 0; /* "no checksum", allowed for UDP over IPv4 (RFC 768) */
    memcpy(pk[i].data, "palisade-e2e-bench", PAYLOAD);
    iov[i].iov_base = &pk[i];
    iov[i].iov_len = sizeof pk[i];
    msg[i].msg_hdr.msg_iov = &iov[i];
    msg[i].msg_hdr.msg_iovlen = 1;
    msg[i].msg_hdr.msg_name = &to;
    msg[i].msg_hdr.msg_namelen = sizeof to;
  }
  const uint32_t sports = 65536 - 1024;
  const uint64_t space = (uint64_t)sports * (uint64_t)nports;
  uint64_t seq = 0, sent = 0, errors = 0;
  double start = now(), end = start + seconds;
  for (;;) {
    double t = now();
    if (t >= end) break;
    if (rate > 0) {
      double due = start + (double)sent / rate;
      if (due > t) {
        double d = due - t;
        struct timespec ts = {.tv_sec = (time_t)d, .tv_nsec = (long)((d - (double)(time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
        continue;
      }
    }
    if (seq + BATCH > space) break; /* tuple space used up: stop rather than repeat a flow */
    for (int i = 0; i < BATCH; i++, seq++) {
      pk[i].udp.source = htons((uint16_t)(1024 + seq % sports));
      pk[i].udp.dest = htons((uint16_t)(dport + seq / sports));
    }
    int r = sendmmsg(s, msg, BATCH, 0);
    if (r < 0) {
      errors++;
      continue; /* the BATCH tuples are skipped, never re-sent */
    }
    sent += (uint64_t)r;
    if (r < BATCH) errors++;
  }
  double secs = now() - start;
  printf("{\"sent\":%llu,\"errors\":%llu,\"seconds\":%.3f,\"perSecond\":%.0f,\"tupleSpace\":%llu,\"cpuUs\":%.0f}\n",
         (unsigned long long)sent, (unsigned long long)errors, secs, (double)sent / secs,
         (unsigned long long)space, cpu_us());
  return 0;
}

/* Warm-up (each warm tuple connected once, untimed), then conn() with tuple picking on. */
static int tuples(char **argv) {
  struct in_addr a;
  if (inet_pton(AF_INET, argv[2], &a) != 1) {
    fprintf(stderr, "loadgen: bad IPv4 address %s\n", argv[2]);
    return 2;
  }
  tup.src0 = ntohl(a.s_addr);
  tup.nsrc = (uint32_t)atoi(argv[3]);
  tup.port0 = atoi(argv[5]);
  tup.nports = atoi(argv[6]);
  double pct = atof(argv[9]);
  if (tup.nsrc < WARM || tup.nports < 1 || tup.port0 < 1 || tup.port0 + tup.nports - 1 > 65535 || pct < 0 || pct > 100) {
    fprintf(stderr, "loadgen: tuples needs NSRC >= %d, ports within 1..65535, FIRSTPCT 0..100\n", WARM);
    return 2;
  }
  tup.first_permille = (uint32_t)(pct * 10 + 0.5);
  tup.next_cold = (uint64_t)strtoull(argv[10], NULL, 10);
  struct worker w = {.rng = 1};
  struct sockaddr_in dst = {.sin_family = AF_INET};
  if (inet_pton(AF_INET, argv[4], &dst.sin_addr) != 1) {
    fprintf(stderr, "loadgen: bad IPv4 address %s\n", argv[4]);
    return 2;
  }
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  for (uint32_t wi = 0; wi < WARM; wi++) {
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr = {htonl(tup.src0 + wi)}};
    dst.sin_port = htons((uint16_t)(tup.port0 + (int)(wi % (uint32_t)tup.nports)));
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&src, sizeof src) < 0 || connect(s, (struct sockaddr *)&dst, sizeof dst) < 0) w.failures++;
    else setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (s >= 0) close(s);
  }
  if (w.failures) fprintf(stderr, "loadgen: %u warm-up connections failed\n", w.failures);
  tup.on = 1;
  return conn(argv[4], tup.port0, atoi(argv[7]), atof(argv[8]));
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc == 4 && !strcmp(argv[1], "serve")) serve(atoi(argv[2]), atoi(argv[3]), 1);
  if (argc == 5 && !strcmp(argv[1], "serve")) serve(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  if (argc == 11 && !strcmp(argv[1], "tuples")) return tuples(argv);
  if (argc == 6 && !strcmp(argv[1], "conn")) return conn(argv[2], atoi(argv[3]), atoi(argv[4]), atof(argv[5]));
  if (argc == 8 && !strcmp(argv[1], "udp"))
    return udp(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atof(argv[6]), atof(argv[7]));
  fprintf(stderr,
          "usage: loadgen serve PORT THREADS [NPORTS] | tuples SRC0 NSRC DST PORT0 NPORTS THREADS SECONDS FIRSTPCT COLD0 | conn HOST PORT THREADS SECONDS | udp SRC DST DPORT NPORTS SECONDS RATE\n");
  return 2;
}
