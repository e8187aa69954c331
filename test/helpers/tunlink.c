/*
 * tunlink: a userspace stand-in for `tc qdisc ... netem` where the kernel has no sch_netem
 * (CONFIG_NET_SCH_NETEM is not set on this CI kernel). It joins N network namespaces in a star:
 * in namespace k (1-based) it creates a TUN device named `veth0`; the test gives it 10.77.0.k/24.
 * Every IPv4 packet one namespace sends to 10.77.0.j is read here and written to namespace j's
 * device, after passing the sender's egress faults and the receiver's ingress faults:
 *   loss (percent), duplicate (percent), reorder (percent of packets that skip the delay),
 *   delay + uniform jitter (ms), rate (kbit/s; a FIFO per direction, tail-drop past `limit`
 *   packets, like netem's default limit 1000).
 * No socket is opened: packets only move between the devices given.
 *
 *   tunlink <seed> <control-file> <ns1> [<ns2> ...]
 *
 * The control file is re-read whenever its mtime changes (write a temp file and rename it). Each
 * line: `<k> <egress|ingress> loss=<p> dup=<p> reorder=<p> delay=<ms> jitter=<ms> rate=<kbit> limit=<n>`
 * (missing keys are 0 / off). An empty file clears every fault. A line `gen <n>` names the
 * generation; once applied, tunlink writes "<n>\n" to <control-file>.ack. Counters go to
 * <control-file>.stats on every apply and every second.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAXN 16
#define MAXPKT 2048
#define MAXPENDING 60000

typedef struct {
  double loss, dup, reorder, delay, jitter, rate;
  int limit;
} fault_t;

typedef struct {
  double at;
  uint64_t seq;
  int dst;
  int len;
  unsigned char *data;
} pkt_t;

static int n;
static int fds[MAXN];
static fault_t eg[MAXN], in[MAXN];
static double eg_free[MAXN], in_free[MAXN];
static int eg_q[MAXN], in_q[MAXN];
static pkt_t heap[MAXPENDING];
static int heap_n;
static uint64_t seqno;
static uint64_t st_inb[MAXN], st_outb[MAXN], st_in[MAXN], st_lost[MAXN], st_dup[MAXN], st_out[MAXN], st_qdrop[MAXN];
static uint64_t rng;
/* Bytes per flow (src ns, dst ns, src port, dst port), for the stats file's top flows. */
#define MAXFLOW 4096
typedef struct { int src, dst, sport, dport; uint64_t bytes, pkts; } flow_t;
static flow_t flows[MAXFLOW];
static int nflows;
static void count_flow(int src, int dst, const unsigned char *b, int len) {
  int ihl = (b[0] & 15) * 4, sport = 0, dport = 0;
  if (b[9] == 6 && len >= ihl + 4) { sport = b[ihl] << 8 | b[ihl + 1]; dport = b[ihl + 2] << 8 | b[ihl + 3]; }
  for (int i = 0; i < nflows; i++)
    if (flows[i].src == src && flows[i].dst == dst && flows[i].sport == sport && flows[i].dport == dport) { flows[i].bytes += len; flows[i].pkts++; return; }
  if (nflows < MAXFLOW) flows[nflows++] = (flow_t){ src, dst, sport, dport, len, 1 };
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double rnd(void) { /* xorshift64*, [0,1) */
  rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
  return (double)((rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static int less(int a, int b) {
  return heap[a].at < heap[b].at || (heap[a].at == heap[b].at && heap[a].seq < heap[b].seq);
}
static void swap(int a, int b) { pkt_t t = heap[a]; heap[a] = heap[b]; heap[b] = t; }
static void push(pkt_t p) {
  int i = heap_n++;
  heap[i] = p;
  while (i > 0 && less(i, (i - 1) / 2)) { swap(i, (i - 1) / 2); i = (i - 1) / 2; }
}
static pkt_t pop(void) {
  pkt_t top = heap[0];
  heap[0] = heap[--heap_n];
  int i = 0;
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < heap_n && less(l, m)) m = l;
    if (r < heap_n && less(r, m)) m = r;
    if (m == i) break;
    swap(i, m); i = m;
  }
  return top;
}

/* Passes one fault stage; returns the new time, or -1 when the packet is dropped. */
static double stage(fault_t *f, double *free_at, int *queued, int len, double t, int k) {
  if (f->loss > 0 && rnd() * 100 < f->loss) { st_lost[k]++; return -1; }
  if (f->rate > 0) {
    int limit = f->limit > 0 ? f->limit : 1000;
    if (*queued >= limit) { st_qdrop[k]++; return -1; }
    double start = *free_at > t ? *free_at : t;
    *free_at = start + len * 8.0 / f->rate; /* kbit/s == bit/ms */
    t = *free_at;
  }
  if (f->delay > 0 && !(f->reorder > 0 && rnd() * 100 < f->reorder)) {
    double d = f->delay + (f->jitter > 0 ? (rnd() * 2 - 1) * f->jitter : 0);
    if (d > 0) t += d;
  }
  return t;
}

static void enqueue(int src, int dst, unsigned char *buf, int len, double now) {
  st_in[src]++;
  st_inb[src] += len;
  count_flow(src, dst, buf, len);
  double t = stage(&eg[src], &eg_free[src], &eg_q[src], len, now, src);
  if (t < 0) return;
  t = stage(&in[dst], &in_free[dst], &in_q[dst], len, t, dst);
  if (t < 0) return;
  int copies = 1;
  if ((eg[src].dup > 0 && rnd() * 100 < eg[src].dup) || (in[dst].dup > 0 && rnd() * 100 < in[dst].dup)) { copies = 2; st_dup[src]++; }
  for (int c = 0; c < copies && heap_n < MAXPENDING; c++) {
    pkt_t p = { t + c * 0.05, seqno++, dst, len, malloc(len) };
    memcpy(p.data, buf, len);
    /* Queue accounting of rate-limited stages: counted until sent (approximation: both stages). */
    if (eg[src].rate > 0) eg_q[src]++;
    if (in[dst].rate > 0) in_q[dst]++;
    p.seq |= ((uint64_t)src << 56);
    push(p);
  }
}

static void parse_fault(char *rest, fault_t *f) {
  memset(f, 0, sizeof *f);
  for (char *tok = strtok(rest, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
    char *eq = strchr(tok, '=');
    if (!eq) continue;
    *eq = 0;
    double v = atof(eq + 1);
    if (!strcmp(tok, "loss")) f->loss = v;
    else if (!strcmp(tok, "dup")) f->dup = v;
    else if (!strcmp(tok, "reorder")) f->reorder = v;
    else if (!strcmp(tok, "delay")) f->delay = v;
    else if (!strcmp(tok, "jitter")) f->jitter = v;
    else if (!strcmp(tok, "rate")) f->rate = v;
    else if (!strcmp(tok, "limit")) f->limit = (int)v;
  }
}

static void write_stats(const char *ctl) {
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s.stats", ctl);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *o = fopen(tmp, "w");
  if (!o) return;
  for (int k = 0; k < n; k++)
    fprintf(o, "%d sent=%llu/%lluB lost=%llu dup=%llu qdrop=%llu recv=%llu/%lluB\n", k + 1, (unsigned long long)st_in[k], (unsigned long long)st_inb[k],
            (unsigned long long)st_lost[k], (unsigned long long)st_dup[k], (unsigned long long)st_qdrop[k], (unsigned long long)st_out[k], (unsigned long long)st_outb[k]);
  fprintf(o, "pending=%d\n", heap_n);
  for (int i = 0; i < nflows; i++)
    if (flows[i].bytes >= 5000)
      fprintf(o, "flow %d:%d>%d:%d %llu pkts %llu B\n", flows[i].src + 1, flows[i].sport, flows[i].dst + 1, flows[i].dport,
              (unsigned long long)flows[i].pkts, (unsigned long long)flows[i].bytes);
  fclose(o);
  rename(tmp, path);
}

static struct timespec ctl_mtime;
static void maybe_reload(const char *ctl) {
  struct stat sb;
  if (stat(ctl, &sb) != 0) return;
  if (sb.st_mtim.tv_sec == ctl_mtime.tv_sec && sb.st_mtim.tv_nsec == ctl_mtime.tv_nsec) return;
  ctl_mtime = sb.st_mtim;
  FILE *f = fopen(ctl, "r");
  if (!f) return;
  memset(eg, 0, sizeof eg);
  memset(in, 0, sizeof in);
  char line[1024];
  long gen = -1;
  while (fgets(line, sizeof line, f)) {
    int k;
    char dir[16];
    int off = 0;
    if (sscanf(line, "gen %ld", &gen) == 1) continue;
    if (sscanf(line, "%d %15s %n", &k, dir, &off) < 2 || k < 1 || k > n) continue;
    parse_fault(line + off, !strcmp(dir, "egress") ? &eg[k - 1] : &in[k - 1]);
  }
  fclose(f);
  write_stats(ctl);
  if (gen >= 0) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s.ack", ctl);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *o = fopen(tmp, "w");
    if (o) { fprintf(o, "%ld\n", gen); fclose(o); rename(tmp, path); }
  }
}

int main(int argc, char **argv) {
  if (argc < 4 || argc - 3 > MAXN) { fprintf(stderr, "usage: tunlink <seed> <control-file> <ns>...\n"); return 2; }
  rng = strtoull(argv[1], NULL, 10) * 0x9E3779B97F4A7C15ULL + 1;
  const char *ctl = argv[2];
  n = argc - 3;
  int home = open("/proc/self/ns/net", O_RDONLY);
  for (int k = 0; k < n; k++) {
    char p[512];
    snprintf(p, sizeof p, "/var/run/netns/%s", argv[3 + k]);
    int nsfd = open(p, O_RDONLY);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) { perror(p); return 1; }
    close(nsfd);
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    strcpy(ifr.ifr_name, "veth0");
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) != 0) { perror("TUNSETIFF"); return 1; }
    fds[k] = fd;
  }
  if (setns(home, CLONE_NEWNET) != 0) { perror("setns home"); return 1; }
  signal(SIGPIPE, SIG_IGN);
  printf("READY\n");
  fflush(stdout);
  struct pollfd pf[MAXN];
  unsigned char buf[MAXPKT];
  double last_stats = now_ms(), last_ctl = 0;
  for (;;) {
    double now = now_ms();
    if (now - last_ctl >= 20) { maybe_reload(ctl); last_ctl = now; }
    if (now - last_stats >= 1000) { write_stats(ctl); last_stats = now; }
    while (heap_n > 0 && heap[0].at <= now) {
      pkt_t p = pop();
      int src = (int)(p.seq >> 56);
      if (eg[src].rate > 0 && eg_q[src] > 0) eg_q[src]--;
      if (in[p.dst].rate > 0 && in_q[p.dst] > 0) in_q[p.dst]--;
      if (write(fds[p.dst], p.data, p.len) == p.len) { st_out[p.dst]++; st_outb[p.dst] += p.len; }
      free(p.data);
    }
    int timeout = 20;
    if (heap_n > 0) {
      double w = heap[0].at - now;
      if (w < timeout) timeout = w < 0 ? 0 : (int)w + (w > (int)w ? 1 : 0);
    }
    for (int k = 0; k < n; k++) { pf[k].fd = fds[k]; pf[k].events = POLLIN; }
    if (poll(pf, n, timeout) < 0 && errno != EINTR) { perror("poll"); return 1; }
    now = now_ms();
    for (int k = 0; k < n; k++) {
      if (!(pf[k].revents & POLLIN)) continue;
      for (int burst = 0; burst < 64; burst++) {
        int len = read(fds[k], buf, sizeof buf);
        if (len <= 0) break;
        if ((buf[0] >> 4) != 4 || len < 20) continue; /* IPv4 only */
        if (buf[16] != 10 || buf[17] != 77 || buf[18] != 0) continue;
        int dst = buf[19] - 1;
        if (dst < 0 || dst >= n || dst == k) continue;
        enqueue(k, dst, buf, len, now);
      }
    }
  }
}
