#include "migration/stream.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "migration/migrate.h"
#include "util/log.h"

void stream_put_le32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void stream_put_le64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t stream_get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

uint64_t stream_get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Splits "host:port" or "[v6]:port" into its parts (host malloc'd). 0 or -EINVAL. */
static int split_addr(const char *addr_port, char **host, const char **port)
{
	const char *colon = strrchr(addr_port, ':');
	if (!colon || colon == addr_port || colon[1] == '\0')
		return -EINVAL;
	const char *start = addr_port, *end = colon;
	if (*start == '[' && end[-1] == ']') {
		start++;
		end--;
	}
	if (end <= start || !(*host = strndup(start, (size_t)(end - start))))
		return -EINVAL;
	*port = colon + 1;
	return 0;
}

static int resolve(const char *addr_port, bool passive, struct addrinfo **out)
{
	char *host;
	const char *port;
	if (split_addr(addr_port, &host, &port) < 0) {
		log_error("'%s' is not ADDR:PORT", addr_port);
		return -EINVAL;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0 };
	int ret = getaddrinfo(host, port, &hints, out);
	free(host);
	if (ret != 0) {
		log_error("cannot resolve '%s': %s", addr_port, gai_strerror(ret));
		return -EINVAL;
	}
	return 0;
}

static void set_socket_timeouts(int fd, struct timeval tv)
{
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Every later send or receive gives up after MIGRATE_PEER_TIMEOUT_S. */
static void set_timeouts(int fd)
{
	set_socket_timeouts(fd, (struct timeval){ .tv_sec = MIGRATE_PEER_TIMEOUT_S });
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

uint64_t stream_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static _Thread_local uint64_t deadline; /* ms, CLOCK_MONOTONIC; 0: none */

void stream_set_deadline(uint64_t deadline_ms)
{
	deadline = deadline_ms;
}

/* Shortens the socket's timeouts to what is left before the deadline: 0, or -ETIMEDOUT. */
static int apply_deadline(int fd)
{
	if (!deadline)
		return 0;
	uint64_t now = stream_now_ms();
	if (now >= deadline)
		return -ETIMEDOUT;
	uint64_t left = deadline - now;
	if (left > MIGRATE_PEER_TIMEOUT_S * 1000ull)
		left = MIGRATE_PEER_TIMEOUT_S * 1000ull;
	set_socket_timeouts(fd, (struct timeval){ .tv_sec = (time_t)(left / 1000),
						  .tv_usec = (suseconds_t)(left % 1000) * 1000 });
	return 0;
}

int stream_connect(const char *addr_port)
{
	struct addrinfo *ai;
	int ret = resolve(addr_port, false, &ai);
	if (ret < 0)
		return ret;
	int fd = -1;
	ret = -ECONNREFUSED;
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		set_timeouts(fd); /* SO_SNDTIMEO bounds connect too */
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
			ret = -errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0)
		log_error("cannot connect to %s: %s", addr_port, strerror(-ret));
	return fd < 0 ? ret : fd;
}

int stream_listen(const char *addr_port)
{
	struct addrinfo *ai;
	int ret = resolve(addr_port, true, &ai);
	if (ret < 0)
		return ret;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1) != 0) {
		ret = -errno;
		log_error("cannot listen on %s: %s", addr_port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = ret;
	}
	freeaddrinfo(ai);
	return fd;
}

int stream_accept(int listen_fd, int stop_fd)
{
	struct pollfd fds[2] = { { .fd = listen_fd, .events = POLLIN }, { .fd = stop_fd, .events = POLLIN } };
	for (;;) {
		if (poll(fds, stop_fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			return -errno;
		if (fds[1].revents & POLLIN)
			return -ECANCELED;
		if (fds[0].revents & POLLIN)
			break;
	}
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	set_timeouts(fd);
	return fd;
}

static int send_iov(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		int late = apply_deadline(fd);
		if (late < 0)
			return late;
		ssize_t sent = writev(fd, iov, n);
		if (sent < 0 && errno == EINTR)
			continue;
		if (sent < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		while (n > 0 && (size_t)sent >= iov->iov_len) {
			sent -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + sent;
			iov->iov_len -= (size_t)sent;
		}
	}
	return 0;
}

int stream_send(int fd, uint32_t type, const void *a, size_t a_len, const void *b, size_t b_len)
{
	uint8_t header[STREAM_HEADER_SIZE] = { 0 };
	stream_put_le32(header, type);
	stream_put_le64(header + 8, (uint64_t)a_len + b_len);
	struct iovec iov[3] = {
		{ header, sizeof(header) }, { (void *)a, a_len }, { (void *)b, b_len },
	};
	return send_iov(fd, iov, b_len ? 3 : a_len ? 2 : 1);
}

int stream_recv(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		int late = apply_deadline(fd);
		if (late < 0)
			return late;
		ssize_t n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int stream_recv_header(int fd, uint32_t *type, uint64_t *len, uint64_t max_len)
{
	uint8_t header[STREAM_HEADER_SIZE];
	int ret = stream_recv(fd, header, sizeof(header));
	if (ret < 0)
		return ret;
	*type = stream_get_le32(header);
	*len = stream_get_le64(header + 8);
	return stream_get_le32(header + 4) == 0 && *len <= max_len ? 0 : -EPROTO;
}
