/*
 * The migration stream's framing and connections (migration/stream.h) and
 * the page helpers (migration/pages.h): no KVM needed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migration/pages.h"
#include "migration/stream.h"
#include "tap.h"

static void test_framing(void)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "a socket pair");
	CHECK(stream_send(sv[0], MSG_PAGES, "head", 4, "tail!", 5) == 0, "send a message in two pieces");
	uint32_t type = 0;
	uint64_t len = 0;
	char buf[16] = { 0 };
	CHECK(stream_recv_header(sv[1], &type, &len, 64) == 0 && type == MSG_PAGES && len == 9,
	      "its header: type and the pieces' total length");
	CHECK(stream_recv(sv[1], buf, len) == 0 && memcmp(buf, "headtail!", 9) == 0, "its payload, joined");

	CHECK(stream_send(sv[0], MSG_GO, NULL, 0, NULL, 0) == 0 &&
	      stream_recv_header(sv[1], &type, &len, 0) == 0 && type == MSG_GO && len == 0,
	      "a message without payload");
	CHECK(stream_send(sv[0], MSG_STATE, "0123456789", 10, NULL, 0) == 0 &&
	      stream_recv_header(sv[1], &type, &len, 9) == -EPROTO, "a payload over the limit is a protocol error");
	stream_recv(sv[1], buf, 10);

	uint8_t raw[STREAM_HEADER_SIZE] = { 0 };
	stream_put_le32(raw, MSG_READY);
	stream_put_le32(raw + 4, 1);
	CHECK(write(sv[0], raw, sizeof(raw)) == (ssize_t)sizeof(raw) &&
	      stream_recv_header(sv[1], &type, &len, 64) == -EPROTO, "a header whose reserved word is not zero is refused");

	CHECK(write(sv[0], raw, 7) == 7, "half a header, then the peer goes");
	close(sv[0]);
	CHECK(stream_recv_header(sv[1], &type, &len, 64) == -ECONNRESET, "a peer gone mid-header: ECONNRESET");
	close(sv[1]);
}

static void test_little_endian(void)
{
	uint8_t b[8];
	stream_put_le64(b, 0x0102030405060708ull);
	CHECK(b[0] == 8 && b[7] == 1 && stream_get_le64(b) == 0x0102030405060708ull, "64-bit little-endian");
	stream_put_le32(b, 0xa1b2c3d4u);
	CHECK(b[0] == 0xd4 && b[3] == 0xa1 && stream_get_le32(b) == 0xa1b2c3d4u, "32-bit little-endian");
}

static void test_connections(void)
{
	CHECK(stream_listen("nonsense") == -EINVAL, "an address without a port is refused");
	CHECK(stream_listen(":80") == -EINVAL, "an address without a host is refused");
	CHECK(stream_connect("[::1") < 0, "a broken IPv6 address is refused");
	int l = stream_listen("127.0.0.1:0");
	CHECK(l >= 0, "listen on 127.0.0.1, any port");
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(l, (struct sockaddr *)&ss, &sl);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(((struct sockaddr_in *)&ss)->sin_port));
	int c = stream_connect(addr);
	int a = stream_accept(l, -1);
	CHECK(c >= 0 && a >= 0, "connect and accept");
	CHECK(stream_send(c, MSG_HELLO, "x", 1, NULL, 0) == 0, "send over TCP");
	uint32_t type;
	uint64_t len;
	CHECK(stream_recv_header(a, &type, &len, 8) == 0 && type == MSG_HELLO && len == 1, "receive over TCP");
	close(c);
	close(a);

	int stop = eventfd(1, 0);
	CHECK(stream_accept(l, stop) == -ECANCELED, "waiting for a connection ends when the stop fd is readable");
	close(stop);
	close(l);
	/* A port bound but not listened on: nobody else can take it meanwhile. */
	int idle = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	sl = sizeof(any);
	bind(idle, (struct sockaddr *)&any, sizeof(any));
	getsockname(idle, (struct sockaddr *)&any, &sl);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(any.sin_port));
	CHECK(stream_connect(addr) == -ECONNREFUSED, "a port nobody listens on: refused, at once");
	close(idle);
}

static void test_pages(void)
{
	static uint8_t page[4096];
	CHECK(page_is_zero(page), "a page of zeroes");
	page[4095] = 1;
	CHECK(!page_is_zero(page), "a page with its last byte set is not");

	uint64_t bm[3] = { 0 };
	bm[0] = 1ull << 3 | 1ull << 63;
	bm[1] = ~0ull;
	bm[2] = 1ull << 2 | 1ull << 40; /* bit 168 is past nbits = 140 */
	CHECK(bitmap_count(bm, 140) == 2 + 64 + 1, "count stops at nbits");
	CHECK(bitmap_next_set(bm, 0, 140) == 3 && bitmap_next_set(bm, 4, 140) == 63 &&
	      bitmap_next_set(bm, 128, 140) == 130, "next set bit, within and across words");
	CHECK(bitmap_next_set(bm, 131, 140) == 140, "no set bit left: nbits");
	CHECK(bitmap_next_clear(bm, 63, 140) == 128 && bitmap_next_clear(bm, 3, 140) == 4,
	      "next clear bit, across a full word");
	CHECK(bitmap_next_clear(bm, 140, 140) == 140, "from nbits on: nbits");
}

int main(void)
{
	test_framing();
	test_little_endian();
	test_connections();
	test_pages();
	return tap_finish();
}
