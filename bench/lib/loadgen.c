// Fixed-rate (open-loop) HTTP/1.1 load generator for the data-path benchmark. Debian has wrk but
// not wrk2, and wrk is closed-loop: it measures saturation, not latency at a given rate. Request k
// is due at start + k / rate whatever happened before; its latency is counted from that due time,
// so a slow response that delays the next requests is charged to them too (no coordinated
// omission). One thread, epoll, nanosecond timeouts (epoll_pwait2).
//
// Usage: loadgen --addr IP:PORT --rate R --duration S --conns C [--close] [--warmup S]
//   --close   a new connection per request ("Connection: close"); else C keep-alive connections
// Prints one JSON line: requests (recorded, after the warm-up), completed (all, warm-up included),
// errors, latency percentiles in microseconds.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 65536

enum conn_state { C_FREE, C_CONNECTING, C_IDLE, C_BUSY };

struct conn {
	int fd;
	enum conn_state state;
	uint64_t due_ns;   /* when the request in flight was due */
	size_t have;       /* bytes of the response read so far */
	char buf[BUF_SIZE];
};

static struct sockaddr_in target;
static int close_mode;
static char request[256];
static size_t request_len;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int open_socket(int nonblocking)
{
	int fd = socket(AF_INET, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A blocking connect() gives up after 5 s instead of the kernel's SYN retries. */
	struct timeval limit = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
	return fd;
}

static void set_nonblocking(int fd)
{
	int on = 1;
	if (ioctl(fd, FIONBIO, &on) < 0)
		die("FIONBIO");
}

/*
 * Length of a complete response in buf, 0 while incomplete, -1 if it is not HTTP we understand.
 * Needs Content-Length (every server in the bench sends it).
 */
static long response_length(const char *buf, size_t have)
{
	const char *end = memmem(buf, have, "\r\n\r\n", 4);
	if (!end)
		return have >= BUF_SIZE ? -1 : 0;
	size_t head = (size_t)(end - buf) + 4;
	long body = -1;
	for (const char *p = buf; p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
		if (*p == '\n')
			p++;
		if ((size_t)(end - p) > 15 && strncasecmp(p, "content-length:", 15) == 0) {
			body = strtol(p + 15, NULL, 10);
			break;
		}
	}
	if (body < 0)
		return -1;
	if (head + (size_t)body > BUF_SIZE)
		return -1;
	return have >= head + (size_t)body ? (long)(head + (size_t)body) : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *sorted, size_t n, double q)
{
	if (n == 0)
		return -1;
	size_t rank = (size_t)(q * (double)n + 0.999999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)sorted[rank - 1] / 1000.0;
}

int main(int argc, char **argv)
{
	const char *addr = NULL;
	double rate = 0, duration = 0, warmup = 0;
	int nconns = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--close")) { close_mode = 1; continue; }
		if (!v) { fprintf(stderr, "loadgen: %s needs a value\n", a); return 2; }
		if (!strcmp(a, "--addr")) addr = v;
		else if (!strcmp(a, "--rate")) rate = atof(v);
		else if (!strcmp(a, "--duration")) duration = atof(v);
		else if (!strcmp(a, "--warmup")) warmup = atof(v);
		else if (!strcmp(a, "--conns")) nconns = atoi(v);
		else { fprintf(stderr, "loadgen: unknown option %s\n", a); return 2; }
		i++;
	}
	if (!addr || rate <= 0 || duration <= 0 || nconns <= 0) {
		fprintf(stderr, "usage: loadgen --addr IP:PORT --rate R --duration S --conns C [--close] [--warmup S]\n");
		return 2;
	}
	char host[64];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof(host)) { fprintf(stderr, "loadgen: --addr %s is not IP:PORT\n", addr); return 2; }
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	target.sin_family = AF_INET;
	target.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &target.sin_addr) != 1) { fprintf(stderr, "loadgen: --addr %s: bad IPv4 address\n", addr); return 2; }
	request_len = (size_t)snprintf(request, sizeof(request), "GET / HTTP/1.1\r\nHost: %s\r\n%s\r\n", addr,
				       close_mode ? "Connection: close\r\n" : "");

	uint64_t period = (uint64_t)(1e9 / rate);
	uint64_t total = (uint64_t)((warmup + duration) * rate);
	uint64_t skip = (uint64_t)(warmup * rate);
	uint64_t *lat = calloc(total, sizeof(uint64_t));
	struct conn *conns = calloc((size_t)nconns, sizeof(struct conn));
	if (!lat || !conns)
		die("calloc");
	int ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");

	if (!close_mode) {
		for (int i = 0; i < nconns; i++) {
			conns[i].fd = open_socket(0);
			if (connect(conns[i].fd, (struct sockaddr *)&target, sizeof(target)) < 0)
				die("connect");
			set_nonblocking(conns[i].fd);
			struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
			if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0)
				die("epoll_ctl");
			conns[i].state = C_IDLE;
		}
	}

	uint64_t next = 0, done = 0, recorded = 0, errors = 0, queued_max = 0;
	uint64_t start = now_ns() + 1000000;
	uint64_t deadline = start + total * period + 5000000000ull;
	struct epoll_event events[256];

	while (done < total) {
		uint64_t now = now_ns();
		if (now > deadline)
			break;
		/* Start every request that is due, while a connection is free. */
		while (next < total && start + next * period <= now) {
			int slot = -1;
			for (int i = 0; i < nconns; i++) {
				if (conns[i].state == (close_mode ? C_FREE : C_IDLE)) { slot = i; break; }
			}
			if (slot < 0)
				break;
			struct conn *c = &conns[slot];
			c->due_ns = start + next * period;
			c->have = 0;
			if (close_mode) {
				c->fd = open_socket(1);
				int r = connect(c->fd, (struct sockaddr *)&target, sizeof(target));
				if (r < 0 && errno != EINPROGRESS) {
					errors++; done++; next++;
					close(c->fd);
					continue;
				}
				struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)slot };
				if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
					die("epoll_ctl");
				c->state = C_CONNECTING;
			} else {
				if (write(c->fd, request, request_len) != (ssize_t)request_len) {
					errors++; done++; next++;
					continue;
				}
				c->state = C_BUSY;
			}
			next++;
		}
		uint64_t waiting = 0;
		if (next < total && start + next * period <= now)
			waiting = (now - start) / period + 1 - next;
		if (waiting > queued_max)
			queued_max = waiting;

		/*
		 * Sleep until the next request is due; when every connection is busy (or every request
		 * was sent), until one finishes. Never past the deadline: a server that stops answering
		 * ends the run with its requests counted as unfinished.
		 */
		uint64_t wake = deadline;
		if (next < total && waiting == 0 && start + next * period < wake)
			wake = start + next * period;
		uint64_t wait = wake > now ? wake - now : 0;
		struct timespec timeout = { (time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull) };
		int n = epoll_pwait2(ep, events, 256, &timeout, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_pwait2");
		}
		for (int e = 0; e < n; e++) {
			struct conn *c = &conns[events[e].data.u32];
			int failed = (events[e].events & (EPOLLERR | EPOLLHUP)) && c->state == C_CONNECTING;
			if (!failed && c->state == C_CONNECTING && (events[e].events & EPOLLOUT)) {
				int err = 0;
				socklen_t len = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err || write(c->fd, request, request_len) != (ssize_t)request_len) {
					failed = 1;
				} else {
					struct epoll_event ev = { .events = EPOLLIN, .data.u32 = events[e].data.u32 };
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
					c->state = C_BUSY;
				}
			}
			if (!failed && c->state == C_BUSY && (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
				ssize_t r = read(c->fd, c->buf + c->have, BUF_SIZE - c->have);
				if (r > 0) {
					c->have += (size_t)r;
					long len = response_length(c->buf, c->have);
					if (len < 0) {
						failed = 1;
					} else if (len > 0) {
						uint64_t t = now_ns();
						uint64_t index = (c->due_ns - start) / period;
						if (index >= skip)
							lat[recorded++] = t - c->due_ns;
						done++;
						if (close_mode) {
							close(c->fd);
							c->state = C_FREE;
						} else {
							c->state = C_IDLE;
							c->have = 0;
						}
					}
				} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
					failed = 1;
				}
			}
			if (failed) {
				errors++;
				done++;
				close(c->fd);
				if (close_mode) {
					c->state = C_FREE;
				} else {
					/* The server closed a keep-alive connection: open a new one. */
					c->fd = open_socket(0);
					if (connect(c->fd, (struct sockaddr *)&target, sizeof(target)) < 0)
						die("reconnect");
					set_nonblocking(c->fd);
					struct epoll_event ev = { .events = EPOLLIN, .data.u32 = events[e].data.u32 };
					epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
					c->state = C_IDLE;
				}
			}
		}
	}
	uint64_t elapsed = now_ns() - start;
	qsort(lat, recorded, sizeof(uint64_t), cmp_u64);
	double sum = 0;
	for (uint64_t i = 0; i < recorded; i++)
		sum += (double)lat[i];
	printf("{\"requests\":%llu,\"completed\":%llu,\"errors\":%llu,\"unfinished\":%llu,\"seconds\":%.3f,\"maxQueued\":%llu,"
	       "\"latencyUs\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f}}\n",
	       (unsigned long long)recorded, (unsigned long long)(done - errors), (unsigned long long)errors, (unsigned long long)(total - done),
	       (double)elapsed / 1e9, (unsigned long long)queued_max,
	       pct(lat, recorded, 0.5), pct(lat, recorded, 0.9), pct(lat, recorded, 0.99), pct(lat, recorded, 0.999),
	       recorded ? (double)lat[recorded - 1] / 1000.0 : -1, recorded ? sum / (double)recorded / 1000.0 : -1);
	return 0;
}
