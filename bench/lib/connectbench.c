// connect() cost: times each blocking connect() (clock_gettime around the call; over loopback the
// three-way handshake completes inside it, so the time includes the hook, or the iptables NAT
// chain and conntrack, plus the handshake). Closes with SO_LINGER 0 (a reset, no TIME_WAIT) so
// that 100,000 connections do not run out of ephemeral ports.
//
// Usage: connectbench serve IP:PORT          accept and close, forever (prints "ready")
//        connectbench dial IP:PORT N [WARMUP] N timed connect()s after WARMUP untimed ones
// dial prints one JSON line with nanosecond percentiles.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in parse(const char *text)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(text, ':');
	if (!colon || (size_t)(colon - text) >= sizeof(host)) {
		fprintf(stderr, "connectbench: %s is not IP:PORT\n", text);
		exit(2);
	}
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = 0;
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "connectbench: %s: bad IPv4 address\n", text);
		exit(2);
	}
	return sa;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *sorted, size_t n, double q)
{
	size_t rank = (size_t)(q * (double)n + 0.999999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

static int serve(struct sockaddr_in sa)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 65535) < 0) {
		perror("connectbench serve: bind/listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c >= 0)
			close(c);
	}
}

static int dial(struct sockaddr_in sa, long n, long warmup)
{
	uint64_t *t = calloc((size_t)n, sizeof(uint64_t));
	long errors = 0;
	int first_errno = 0;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	for (long i = -warmup; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			perror("connectbench: socket");
			return 1;
		}
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		uint64_t t0 = now_ns();
		int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		uint64_t t1 = now_ns();
		if (r < 0) {
			errors++;
			if (!first_errno)
				first_errno = errno;
		}
		if (i >= 0)
			t[i] = t1 - t0;
		close(fd);
	}
	qsort(t, (size_t)n, sizeof(uint64_t), cmp_u64);
	double sum = 0;
	for (long i = 0; i < n; i++)
		sum += (double)t[i];
	printf("{\"connects\":%ld,\"errors\":%ld,\"firstError\":\"%s\",\"ns\":{\"min\":%llu,\"p50\":%llu,\"p90\":%llu,"
	       "\"p99\":%llu,\"p999\":%llu,\"max\":%llu,\"mean\":%.1f}}\n",
	       n, errors, first_errno ? strerror(first_errno) : "", (unsigned long long)t[0],
	       (unsigned long long)pct(t, (size_t)n, 0.5), (unsigned long long)pct(t, (size_t)n, 0.9),
	       (unsigned long long)pct(t, (size_t)n, 0.99), (unsigned long long)pct(t, (size_t)n, 0.999),
	       (unsigned long long)t[n - 1], sum / (double)n);
	return errors ? 3 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "serve"))
		return serve(parse(argv[2]));
	if (argc >= 4 && !strcmp(argv[1], "dial")) {
		long n = atol(argv[3]);
		long warmup = argc >= 5 ? atol(argv[4]) : 0;
		if (n <= 0 || warmup < 0) {
			fprintf(stderr, "connectbench: N must be > 0 and WARMUP >= 0\n");
			return 2;
		}
		return dial(parse(argv[2]), n, warmup);
	}
	fprintf(stderr, "usage: connectbench serve IP:PORT | connectbench dial IP:PORT N [WARMUP]\n");
	return 2;
}
