/*
 * Bits flipped on the wire, for tests: loaded with LD_PRELOAD into a real seqdb process. While
 * the file $SEQDB_FLIP_TRIGGER exists and holds a port number, every $SEQDB_FLIP_EVERY-th
 * write(2)/writev(2) (default 10) of at least $SEQDB_FLIP_MINLEN bytes (default 0) to a TCP
 * connection whose remote port is that port leaves with one bit changed, at a place drawn from a
 * generator seeded with $SEQDB_FLIP_SEED. That is what a NIC, a middlebox or bad memory does
 * after TCP's checksum was computed: the kernel checksums the changed bytes, so the receiving
 * TCP takes them. The caller's buffer is left alone (the bytes are copied), so only what leaves
 * differs. Each flip that left (the write got that far) appends "<bytes written> <byte offset>
 * <bit>" to <trigger>.flips.
 * Everything else passes through to libc; Node's sockets (libuv) write through these calls.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define REAL(name) static __typeof__(name) *real; if (real == NULL) real = dlsym(RTLD_NEXT, #name)

static unsigned long matched;
static unsigned int rng;

/* The armed port, or 0: the trigger file's number. */
static int armed_port(void) {
  const char *trigger = getenv("SEQDB_FLIP_TRIGGER");
  if (trigger == NULL) return 0;
  FILE *f = fopen(trigger, "r");
  if (f == NULL) return 0;
  int port = 0;
  if (fscanf(f, "%d", &port) != 1) port = 0;
  fclose(f);
  return port;
}

static int remote_port(int fd) {
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  if (getpeername(fd, (struct sockaddr *)&sa, &len) != 0) return -1;
  if (sa.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&sa)->sin_port);
  if (sa.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
  return -1;
}

/* Whether this write of `len` bytes to `fd` is one to change. */
static int flipping(int fd, size_t len) {
  const char *minlen = getenv("SEQDB_FLIP_MINLEN");
  if (len == 0 || (minlen != NULL && len < (size_t)atol(minlen))) return 0;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0; /* files pass without a look at the trigger */
  int port = armed_port();
  if (port <= 0 || remote_port(fd) != port) return 0;
  const char *every = getenv("SEQDB_FLIP_EVERY");
  unsigned long n = every != NULL && atol(every) > 0 ? (unsigned long)atol(every) : 10;
  if (rng == 0) {
    const char *seed = getenv("SEQDB_FLIP_SEED");
    rng = (seed != NULL ? (unsigned int)atol(seed) : 1u) * 2654435761u;
    if (rng == 0) rng = 1;
  }
  return ++matched % n == 0;
}

/* Writes a copy of the bytes with one bit changed. */
static ssize_t flipped(int fd, const struct iovec *v, int c, size_t len) {
  REAL(write);
  char *copy = malloc(len);
  if (copy == NULL) abort();
  size_t at = 0;
  for (int i = 0; i < c; i++) {
    memcpy(copy + at, v[i].iov_base, v[i].iov_len);
    at += v[i].iov_len;
  }
  size_t offset = (size_t)rand_r(&rng) % len;
  int bit = rand_r(&rng) % 8;
  copy[offset] ^= (char)(1 << bit);
  ssize_t r = real(fd, copy, len);
  int saved = errno;
  free(copy);
  /* Only a flip that left: a failed or short write resends the rest from the caller's bytes. */
  if (r <= (ssize_t)offset) {
    errno = saved;
    return r;
  }
  char path[4200];
  snprintf(path, sizeof path, "%s.flips", getenv("SEQDB_FLIP_TRIGGER"));
  FILE *f = fopen(path, "a");
  if (f != NULL) {
    fprintf(f, "%zd %zu %d\n", r, offset, bit);
    fclose(f);
  }
  errno = saved;
  return r;
}

ssize_t write(int fd, const void *buf, size_t len) {
  REAL(write);
  if (!flipping(fd, len)) return real(fd, buf, len);
  struct iovec v = {(void *)buf, len};
  return flipped(fd, &v, 1, len);
}

ssize_t writev(int fd, const struct iovec *v, int c) {
  REAL(writev);
  size_t len = 0;
  for (int i = 0; i < c; i++) len += v[i].iov_len;
  if (!flipping(fd, len)) return real(fd, v, c);
  return flipped(fd, v, c, len);
}
