/*
 * The migration stream: messages over one TCP connection, each a header
 * (u32 type, u32 zero, u64 payload length, little-endian) and a payload.
 * docs/migration.md describes the messages; migrate.c speaks them.
 */
#ifndef VMON_MIGRATION_STREAM_H
#define VMON_MIGRATION_STREAM_H

#include <stddef.h>
#include <stdint.h>

enum stream_msg {
	MSG_HELLO = 1,   /* source: "VMONMIG\0", u32 stream version */
	MSG_CONFIG,      /* source: a state blob holding the configuration */
	MSG_PAGES,       /* source: u64 first page, u32 count, u32 CRC-32 of the data, count pages */
	MSG_ZERO,        /* source: u64 first page, u32 count: those pages are zeroes now */
	MSG_STATE,       /* source: the frozen VM's state blob */
	MSG_READY,       /* destination: the state is loaded */
	MSG_ERROR,       /* destination: why it gives up (text) */
	MSG_GO,          /* source: run it */
	MSG_RESUMED,     /* destination: it runs */
};

#define STREAM_MAGIC "VMONMIG"  /* 8 bytes with its NUL */
#define STREAM_VERSION 1
#define STREAM_HEADER_SIZE 16
#define STREAM_MAX_PAGES 256     /* per MSG_PAGES / MSG_ZERO */
/* Nothing legitimate is longer: a state blob, or a full MSG_PAGES. */
#define STREAM_MAX_PAYLOAD (64u << 20)

/*
 * "ADDR:PORT" (or "[v6addr]:PORT") connected or listened on, with
 * MIGRATE_PEER_TIMEOUT_S for every later send and receive. The fd, or
 * -errno after logging why.
 */
int stream_connect(const char *addr_port);
int stream_listen(const char *addr_port);
/* One connection on the listening fd, or -errno; -ECANCELED when stop_fd became readable. */
int stream_accept(int listen_fd, int stop_fd);

/*
 * From now until stream_set_deadline(0), every send and receive on this
 * thread gives up with -ETIMEDOUT at `deadline_ms` (CLOCK_MONOTONIC),
 * however slowly the peer keeps the connection alive: the bound of a
 * phase rather than of one call.
 */
void stream_set_deadline(uint64_t deadline_ms);
uint64_t stream_now_ms(void);

/* Sends one message; the payload in up to two pieces (b may be NULL). 0 or -errno. */
int stream_send(int fd, uint32_t type, const void *a, size_t a_len, const void *b, size_t b_len);
/*
 * Receives one message's header: *type and *len (at most max_len, else
 * -EPROTO). 0, -errno, or -ECONNRESET when the peer closed.
 */
int stream_recv_header(int fd, uint32_t *type, uint64_t *len, uint64_t max_len);
/* Receives exactly len payload bytes. 0 or -errno. */
int stream_recv(int fd, void *buf, size_t len);

void stream_put_le32(uint8_t *p, uint32_t v);
void stream_put_le64(uint8_t *p, uint64_t v);
uint32_t stream_get_le32(const uint8_t *p);
uint64_t stream_get_le64(const uint8_t *p);

#endif
