/*
 * Disk I/O errors for tests, loaded with LD_PRELOAD into a real seqdb process: write and sync
 * calls on regular files whose path contains $SEQDB_FAULT_MATCH fail with EIO while the file
 * $SEQDB_FAULT_TRIGGER exists (the test arms and heals the "disk" by creating and removing it).
 * $SEQDB_FAULT_OPS picks the calls: "write", "sync" (the default is both) and "read" (a sector
 * that can no longer be read back: reads through read/pread/readv; LMDB reads its pages through
 * mmap, which this cannot fail).
 * With $SEQDB_FAULT_MAXLEN only writes of at most that many bytes fail (LMDB's ~150-byte meta-page
 * write, never a data page: a bad sector under the meta page).
 * With $SEQDB_FAULT_MODE=stall, or a trigger file that begins with "stall", the calls do not fail:
 * they block while the trigger exists, then go through (a disk that stops answering: a
 * hard-mounted NFS server gone, a dying drive).
 * With $SEQDB_FAULT_MODE=tear, or a trigger file that begins with "tear", the first matching write
 * that crosses a 512-byte sector boundary before the middle of its content (trailing zeros, such
 * as the log's preallocation written with its records, do not count) puts only its part up to
 * that boundary on the file and the process dies (SIGKILL) inside the call: a machine that lost
 * power in the middle of a write, which never returned, so nothing it held was acknowledged
 * (kill -9 alone cannot do that: the kernel finishes a write(2) in progress). Other writes, and
 * syncs and reads, go through. What was torn is written to <trigger>.torn ("<offset> <bytes
 * written> <bytes asked>") for the test to check.
 * Everything else passes through to libc, so the process runs its own code against a failing disk.
 * Node's fs (libuv) and LMDB both write through these libc calls.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int failing(int fd, const char *op, size_t len) {
  const char *match = getenv("SEQDB_FAULT_MATCH");
  const char *trigger = getenv("SEQDB_FAULT_TRIGGER");
  if (match == NULL || trigger == NULL) return 0;
  const char *maxlen = getenv("SEQDB_FAULT_MAXLEN");
  if (maxlen != NULL && len > (size_t)atol(maxlen)) return 0;
  const char *ops = getenv("SEQDB_FAULT_OPS");
  if (ops == NULL) ops = "write,sync"; /* reads fail only when asked for */
  if (strstr(ops, op) == NULL) return 0;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = 0;
  return strstr(path, match) != NULL && access(trigger, F_OK) == 0;
}

#define REAL(name) static __typeof__(name) *real; if (real == NULL) real = dlsym(RTLD_NEXT, #name)
/* Whether the fault's mode is `name` ("stall", "tear"): from the environment, or the trigger's
 * content at run time (the chaos runs' disk-stall and disk-tear faults). */
static int in_mode(const char *name) {
  const char *mode = getenv("SEQDB_FAULT_MODE");
  if (mode != NULL && strcmp(mode, name) == 0) return 1;
  FILE *f = fopen(getenv("SEQDB_FAULT_TRIGGER"), "r");
  if (f == NULL) return 0;
  char head[8] = {0};
  size_t len = strlen(name), n = fread(head, 1, len, f);
  fclose(f);
  return n == len && strncmp(head, name, len) == 0;
}
static int stalling(void) { return in_mode("stall"); }

/* Blocks while the trigger exists (rechecked every 5 ms). */
static void stall(void) {
  const char *trigger = getenv("SEQDB_FAULT_TRIGGER");
  while (access(trigger, F_OK) == 0) usleep(5000);
}

/* Syncs and reads: fail, stall, or (tearing: only writes are torn) go through. */
#define FAIL_IF(fd, op, len) if (failing(fd, op, len) && !in_mode("tear")) { if (stalling()) stall(); else { errno = EIO; return -1; } }

static size_t total(const struct iovec *v, int c) {
  size_t n = 0;
  for (int i = 0; i < c; i++) n += v[i].iov_len;
  return n;
}

/* Bytes of the write before its trailing zeros. */
static size_t content(const struct iovec *v, int c) {
  size_t n = total(v, c);
  for (int i = c - 1; i >= 0; i--) {
    const unsigned char *p = v[i].iov_base;
    for (size_t j = v[i].iov_len; j > 0; j--, n--) if (p[j - 1] != 0) return n;
  }
  return 0;
}

/* Writes the write (at `at`, or the file's offset when -1) up to the last sector boundary before
 * the middle of its content, then dies: see "tear" above. Returns (the write goes through) when
 * there is no such boundary. */
static void tear(int fd, const struct iovec *v, int c, off_t at) {
  static __typeof__(pwrite64) *real_pwrite;
  static volatile int tearing_now;
  if (real_pwrite == NULL) real_pwrite = dlsym(RTLD_NEXT, "pwrite64");
  off_t start = at >= 0 ? at : lseek(fd, 0, SEEK_CUR);
  off_t cut = (start + (off_t)(content(v, c) / 2)) / 512 * 512;
  if (start < 0 || cut <= start) return;
  /* One tear per process: another thread's write waits here for the SIGKILL. */
  if (__sync_lock_test_and_set(&tearing_now, 1)) for (;;) pause();
  size_t keep = (size_t)(cut - start);
  char *buf = malloc(keep);
  ssize_t wrote = -1;
  if (buf != NULL) {
    size_t got = 0;
    for (int i = 0; i < c && got < keep; i++) {
      size_t take = v[i].iov_len < keep - got ? v[i].iov_len : keep - got;
      memcpy(buf + got, v[i].iov_base, take);
      got += take;
    }
    wrote = real_pwrite(fd, buf, keep, start);
  }
  char report[4200];
  snprintf(report, sizeof report, "%s.torn", getenv("SEQDB_FAULT_TRIGGER"));
  FILE *f = fopen(report, "w");
  if (f != NULL) {
    fprintf(f, "%lld %zd %zu\n", (long long)start, wrote, total(v, c));
    fclose(f);
  }
  for (;;) {
    kill(getpid(), SIGKILL);
    pause();
  }
}

/* A write call's fault: fail, stall, or tear. */
#define WRITE_FAULT(fd, v, c, at) \
  if (failing(fd, "write", total(v, c))) { if (stalling()) stall(); else if (in_mode("tear")) tear(fd, v, c, at); else { errno = EIO; return -1; } }

#define ONE(b, n) (&(struct iovec){ .iov_base = (void *)(b), .iov_len = (n) })
ssize_t write(int fd, const void *b, size_t n) { REAL(write); WRITE_FAULT(fd, ONE(b, n), 1, -1); return real(fd, b, n); }
ssize_t pwrite(int fd, const void *b, size_t n, off_t o) { REAL(pwrite); WRITE_FAULT(fd, ONE(b, n), 1, o); return real(fd, b, n, o); }
ssize_t pwrite64(int fd, const void *b, size_t n, off_t o) { REAL(pwrite64); WRITE_FAULT(fd, ONE(b, n), 1, o); return real(fd, b, n, o); }
ssize_t writev(int fd, const struct iovec *v, int c) { REAL(writev); WRITE_FAULT(fd, v, c, -1); return real(fd, v, c); }
ssize_t pwritev(int fd, const struct iovec *v, int c, off_t o) { REAL(pwritev); WRITE_FAULT(fd, v, c, o); return real(fd, v, c, o); }
ssize_t pwritev64(int fd, const struct iovec *v, int c, off_t o) { REAL(pwritev64); WRITE_FAULT(fd, v, c, o); return real(fd, v, c, o); }
ssize_t pwritev2(int fd, const struct iovec *v, int c, off_t o, int f) { REAL(pwritev2); WRITE_FAULT(fd, v, c, o < 0 ? -1 : o); return real(fd, v, c, o, f); }
ssize_t read(int fd, void *b, size_t n) { REAL(read); FAIL_IF(fd, "read", n); return real(fd, b, n); }
ssize_t pread(int fd, void *b, size_t n, off_t o) { REAL(pread); FAIL_IF(fd, "read", n); return real(fd, b, n, o); }
ssize_t pread64(int fd, void *b, size_t n, off_t o) { REAL(pread64); FAIL_IF(fd, "read", n); return real(fd, b, n, o); }
ssize_t readv(int fd, const struct iovec *v, int c) { REAL(readv); FAIL_IF(fd, "read", total(v, c)); return real(fd, v, c); }
ssize_t preadv(int fd, const struct iovec *v, int c, off_t o) { REAL(preadv); FAIL_IF(fd, "read", total(v, c)); return real(fd, v, c, o); }
ssize_t preadv64(int fd, const struct iovec *v, int c, off_t o) { REAL(preadv64); FAIL_IF(fd, "read", total(v, c)); return real(fd, v, c, o); }
ssize_t preadv2(int fd, const struct iovec *v, int c, off_t o, int f) { REAL(preadv2); FAIL_IF(fd, "read", total(v, c)); return real(fd, v, c, o, f); }
int fsync(int fd) { REAL(fsync); FAIL_IF(fd, "sync", 0); return real(fd); }
int fdatasync(int fd) { REAL(fdatasync); FAIL_IF(fd, "sync", 0); return real(fd); }
