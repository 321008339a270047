/*
 * The virtio-net header (virtio 1.2 §5.1.6) on its own: its wire layout,
 * the checks of a transmit header against the driver's offloads
 * (§5.1.6.2), of a receive header against the guest's (§5.1.6.3-4), and
 * the TUN_F_* offloads the guest's features let a TAP hand it.
 */
#include <linux/if_tun.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "devices/virtio/net_hdr.h"
#include "tap.h"
#include "virtio/virtio.h"

#define F(bit) (1ull << (bit))
#define V1     F(VIRTIO_F_VERSION_1)
#define MAXF   1518u /* MTU 1500 + Ethernet header + one VLAN tag */

static bool hdr_eq(const struct virtio_net_hdr *a, const struct virtio_net_hdr *b)
{
	return a->flags == b->flags && a->gso_type == b->gso_type && a->hdr_len == b->hdr_len &&
	       a->gso_size == b->gso_size && a->csum_start == b->csum_start &&
	       a->csum_offset == b->csum_offset && a->num_buffers == b->num_buffers;
}

/* A TCP/IPv4 frame's header asking for the TCP checksum: start 34, offset 16. */
static struct virtio_net_hdr csum_hdr(void)
{
	return (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34,
					.csum_offset = 16 };
}

/* The same asking for TSO too. */
static struct virtio_net_hdr tso_hdr(uint8_t gso_type)
{
	struct virtio_net_hdr h = csum_hdr();
	h.gso_type = gso_type;
	h.hdr_len = 66;
	h.gso_size = 1448;
	return h;
}

static void test_wire(void)
{
	struct virtio_net_hdr h = { .flags = 0x81, .gso_type = 0x84, .hdr_len = 0x0102, .gso_size = 0x0304,
				    .csum_start = 0x0506, .csum_offset = 0x0708, .num_buffers = 0x090a };
	uint8_t wire[VIRTIO_NET_HDR_LEN + 2];
	memset(wire, 0xee, sizeof(wire));
	net_hdr_store(&h, wire);
	const uint8_t want[VIRTIO_NET_HDR_LEN] = { 0x81, 0x84, 0x02, 0x01, 0x04, 0x03,
						   0x06, 0x05, 0x08, 0x07, 0x0a, 0x09 };
	CHECK(memcmp(wire, want, sizeof(want)) == 0, "store: flags, gso_type, then five little-endian u16");
	CHECK(wire[12] == 0xee && wire[13] == 0xee, "store writes exactly 12 bytes");
	struct virtio_net_hdr back;
	memset(&back, 0x55, sizeof(back));
	net_hdr_load(&back, wire);
	CHECK(hdr_eq(&h, &back), "load(store(h)) == h");

	uint8_t ff[VIRTIO_NET_HDR_LEN];
	memset(ff, 0xff, sizeof(ff));
	net_hdr_load(&back, ff);
	CHECK(back.flags == 0xff && back.gso_type == 0xff && back.hdr_len == 0xffff && back.gso_size == 0xffff &&
	      back.csum_start == 0xffff && back.csum_offset == 0xffff && back.num_buffers == 0xffff,
	      "load of all-ones: every field at its maximum");
	const uint8_t le[VIRTIO_NET_HDR_LEN] = { 1, 4, 66, 0, 0xa8, 0x05, 34, 0, 16, 0, 3, 0 };
	net_hdr_load(&back, le);
	CHECK(back.flags == 1 && back.gso_type == 4 && back.hdr_len == 66 && back.gso_size == 1448 &&
	      back.csum_start == 34 && back.csum_offset == 16 && back.num_buffers == 3,
	      "load of a typical TSOv6 header");
}

static void test_tx_plain(void)
{
	struct virtio_net_hdr in = { 0 }, out;
	memset(&out, 0x55, sizeof(out));
	CHECK(net_hdr_check_tx(&in, V1, 60, MAXF, &out) == NET_HDR_OK && hdr_eq(&in, &out),
	      "a plain 60-byte frame: OK, header unchanged");
	in.num_buffers = 7;
	CHECK(net_hdr_check_tx(&in, V1, 60, MAXF, &out) == NET_HDR_OK && out.num_buffers == 0,
	      "num_buffers from the driver is zeroed for the TAP");

	CHECK(net_hdr_check_tx(&in, V1, 13, MAXF, &out) == NET_HDR_BAD_LENGTH, "a 13-byte frame: BAD_LENGTH");
	CHECK(net_hdr_check_tx(&in, V1, 0, MAXF, &out) == NET_HDR_BAD_LENGTH, "an empty frame: BAD_LENGTH");
	CHECK(net_hdr_check_tx(&in, V1, 14, MAXF, &out) == NET_HDR_OK, "a bare 14-byte Ethernet header: OK");
	CHECK(net_hdr_check_tx(&in, V1, MAXF, MAXF, &out) == NET_HDR_OK, "a frame of exactly max_frame: OK");
	CHECK(net_hdr_check_tx(&in, V1, MAXF + 1, MAXF, &out) == NET_HDR_BAD_LENGTH,
	      "one byte over max_frame without GSO: BAD_LENGTH");
	CHECK(net_hdr_check_tx(&in, ~0ull, 65535, MAXF, &out) == NET_HDR_BAD_LENGTH,
	      "a 64 KiB frame without GSO, every feature: BAD_LENGTH");
	CHECK(net_hdr_check_tx(&in, V1, UINT64_MAX, MAXF, &out) == NET_HDR_BAD_LENGTH, "frame_len 2^64-1: BAD_LENGTH");
}

static void test_tx_csum(void)
{
	struct virtio_net_hdr in = csum_hdr(), out;
	uint64_t csum = V1 | F(VIRTIO_NET_F_CSUM);
	CHECK(net_hdr_check_tx(&in, V1, 60, MAXF, &out) == NET_HDR_BAD_CSUM, "NEEDS_CSUM without F_CSUM: BAD_CSUM");
	CHECK(net_hdr_check_tx(&in, V1 | F(VIRTIO_NET_F_GUEST_CSUM), 60, MAXF, &out) == NET_HDR_BAD_CSUM,
	      "NEEDS_CSUM with only GUEST_CSUM (the other direction): BAD_CSUM");
	memset(&out, 0, sizeof(out));
	CHECK(net_hdr_check_tx(&in, csum, 60, MAXF, &out) == NET_HDR_OK && out.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM &&
	      out.csum_start == 34 && out.csum_offset == 16, "NEEDS_CSUM with F_CSUM: OK, passed on");
	CHECK(net_hdr_check_tx(&in, csum, 52, MAXF, &out) == NET_HDR_OK,
	      "checksum field ending exactly at the end of the frame (34 + 16 + 2 = 52): OK");
	CHECK(net_hdr_check_tx(&in, csum, 51, MAXF, &out) == NET_HDR_BAD_CSUM,
	      "checksum field one byte past the end: BAD_CSUM");
	in.csum_start = 0xffff;
	in.csum_offset = 0xffff;
	CHECK(net_hdr_check_tx(&in, csum, MAXF, MAXF, &out) == NET_HDR_BAD_CSUM,
	      "csum_start and csum_offset 0xffff: BAD_CSUM (no wrap)");
	in.csum_start = 12;
	in.csum_offset = 0;
	CHECK(net_hdr_check_tx(&in, csum, 14, MAXF, &out) == NET_HDR_OK, "start 12 offset 0 in a 14-byte frame: OK");

	struct virtio_net_hdr dv = { .flags = VIRTIO_NET_HDR_F_DATA_VALID, .csum_start = 0xffff };
	memset(&out, 0x55, sizeof(out));
	CHECK(net_hdr_check_tx(&dv, V1, 60, MAXF, &out) == NET_HDR_OK && out.flags == 0,
	      "DATA_VALID from the driver (not its to set): cleared, not refused");
	dv.flags = 0xfe; /* every bit but NEEDS_CSUM */
	CHECK(net_hdr_check_tx(&dv, V1, 60, MAXF, &out) == NET_HDR_OK && out.flags == 0,
	      "unknown flag bits are ignored and cleared");
	struct virtio_net_hdr both = csum_hdr();
	both.flags |= VIRTIO_NET_HDR_F_DATA_VALID | 4;
	CHECK(net_hdr_check_tx(&both, csum, 60, MAXF, &out) == NET_HDR_OK && out.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM,
	      "NEEDS_CSUM | DATA_VALID | RSC_INFO: only NEEDS_CSUM passed on");
	struct virtio_net_hdr stale = { .csum_start = 0xffff, .csum_offset = 0xffff };
	CHECK(net_hdr_check_tx(&stale, V1, 60, MAXF, &out) == NET_HDR_OK,
	      "without NEEDS_CSUM csum_start/offset are not looked at");
}

static void test_tx_gso(void)
{
	uint64_t csum = V1 | F(VIRTIO_NET_F_CSUM);
	uint64_t tso4 = csum | F(VIRTIO_NET_F_HOST_TSO4), tso6 = csum | F(VIRTIO_NET_F_HOST_TSO6);
	uint64_t all = tso4 | tso6 | F(VIRTIO_NET_F_HOST_ECN);
	struct virtio_net_hdr in = tso_hdr(VIRTIO_NET_HDR_GSO_TCPV4), out;

	CHECK(net_hdr_check_tx(&in, csum, 30000, MAXF, &out) == NET_HDR_BAD_GSO, "TCPV4 without HOST_TSO4: BAD_GSO");
	CHECK(net_hdr_check_tx(&in, csum | F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_CSUM), 30000, MAXF, &out) ==
		      NET_HDR_BAD_GSO, "TCPV4 with GUEST_TSO4 only (the other direction): BAD_GSO");
	CHECK(net_hdr_check_tx(&in, tso6, 30000, MAXF, &out) == NET_HDR_BAD_GSO, "TCPV4 with HOST_TSO6 only: BAD_GSO");
	memset(&out, 0, sizeof(out));
	CHECK(net_hdr_check_tx(&in, tso4, 30000, MAXF, &out) == NET_HDR_OK && out.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 &&
	      out.gso_size == 1448 && out.hdr_len == 66 && out.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM,
	      "TCPV4 with HOST_TSO4: OK, gso fields passed on");

	struct virtio_net_hdr v6 = tso_hdr(VIRTIO_NET_HDR_GSO_TCPV6);
	CHECK(net_hdr_check_tx(&v6, tso4, 30000, MAXF, &out) == NET_HDR_BAD_GSO, "TCPV6 without HOST_TSO6: BAD_GSO");
	CHECK(net_hdr_check_tx(&v6, tso6, 30000, MAXF, &out) == NET_HDR_OK, "TCPV6 with HOST_TSO6: OK");

	struct virtio_net_hdr ecn = tso_hdr(VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN);
	CHECK(net_hdr_check_tx(&ecn, tso4 | tso6, 30000, MAXF, &out) == NET_HDR_BAD_GSO,
	      "TCPV4 | ECN without HOST_ECN: BAD_GSO");
	CHECK(net_hdr_check_tx(&ecn, all, 30000, MAXF, &out) == NET_HDR_OK &&
	      out.gso_type == (VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN), "TCPV4 | ECN with HOST_ECN: OK");
	struct virtio_net_hdr ecn6 = tso_hdr(VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN);
	CHECK(net_hdr_check_tx(&ecn6, all, 30000, MAXF, &out) == NET_HDR_OK, "TCPV6 | ECN with HOST_ECN: OK");
	struct virtio_net_hdr ecn_only = csum_hdr();
	ecn_only.gso_type = VIRTIO_NET_HDR_GSO_ECN;
	ecn_only.gso_size = 1448;
	CHECK(net_hdr_check_tx(&ecn_only, all, 60, MAXF, &out) == NET_HDR_BAD_GSO,
	      "ECN bit on GSO_NONE, every feature: BAD_GSO");

	struct virtio_net_hdr zero = tso_hdr(VIRTIO_NET_HDR_GSO_TCPV4);
	zero.gso_size = 0;
	CHECK(net_hdr_check_tx(&zero, all, 30000, MAXF, &out) == NET_HDR_BAD_GSO, "gso_size 0: BAD_GSO");
	struct virtio_net_hdr udp = tso_hdr(3);
	CHECK(net_hdr_check_tx(&udp, ~0ull, 30000, MAXF, &out) == NET_HDR_BAD_GSO,
	      "UDP (UFO, gso_type 3) with every feature bit: BAD_GSO");
	bool others = true;
	for (unsigned t = 0; t < 256; t++) {
		unsigned base = t & ~VIRTIO_NET_HDR_GSO_ECN;
		if (t == VIRTIO_NET_HDR_GSO_NONE || base == VIRTIO_NET_HDR_GSO_TCPV4 ||
		    base == VIRTIO_NET_HDR_GSO_TCPV6)
			continue;
		struct virtio_net_hdr h = tso_hdr((uint8_t)t);
		others = others && net_hdr_check_tx(&h, ~0ull, 30000, MAXF, &out) != NET_HDR_OK;
	}
	CHECK(others, "every gso_type other than TCPV4/TCPV6 (+ ECN) is refused, every feature bit set");
	struct virtio_net_hdr hl = tso_hdr(VIRTIO_NET_HDR_GSO_TCPV4);
	hl.hdr_len = 3001;
	CHECK(net_hdr_check_tx(&hl, all, 3000, MAXF, &out) == NET_HDR_BAD_GSO, "hdr_len past the frame: BAD_GSO");
	hl.hdr_len = 3000;
	CHECK(net_hdr_check_tx(&hl, all, 3000, MAXF, &out) == NET_HDR_OK, "hdr_len equal to the frame: OK");

	CHECK(net_hdr_check_tx(&in, all, NET_MAX_GSO_FRAME, MAXF, &out) == NET_HDR_OK,
	      "a GSO frame of exactly NET_MAX_GSO_FRAME (%d): OK", NET_MAX_GSO_FRAME);
	CHECK(net_hdr_check_tx(&in, all, NET_MAX_GSO_FRAME + 1, MAXF, &out) == NET_HDR_BAD_LENGTH,
	      "a GSO frame one byte over NET_MAX_GSO_FRAME: BAD_LENGTH");
	CHECK(net_hdr_check_tx(&in, all, 13, MAXF, &out) == NET_HDR_BAD_LENGTH, "a 13-byte GSO frame: BAD_LENGTH");
	in.num_buffers = 0xffff;
	CHECK(net_hdr_check_tx(&in, all, 30000, MAXF, &out) == NET_HDR_OK && out.num_buffers == 0,
	      "num_buffers zeroed on a GSO frame too");
}

static void test_rx(void)
{
	uint64_t gcsum = V1 | F(VIRTIO_NET_F_GUEST_CSUM);
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_DATA_VALID, .num_buffers = 0xffff };
	CHECK(net_hdr_check_rx(&h, V1, 60, NET_MAX_GSO_FRAME, 1) == NET_HDR_OK && h.flags == 0 && h.num_buffers == 1,
	      "without GUEST_CSUM: DATA_VALID zeroed, num_buffers set to 1");
	h = csum_hdr();
	CHECK(net_hdr_check_rx(&h, V1, 60, NET_MAX_GSO_FRAME, 1) == NET_HDR_BAD_CSUM, "without GUEST_CSUM: NEEDS_CSUM refused");
	h = csum_hdr();
	CHECK(net_hdr_check_rx(&h, V1 | F(VIRTIO_NET_F_CSUM), 60, NET_MAX_GSO_FRAME, 1) == NET_HDR_BAD_CSUM,
	      "NEEDS_CSUM with only F_CSUM (the other direction): refused");
	h = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_DATA_VALID };
	CHECK(net_hdr_check_rx(&h, gcsum, 60, NET_MAX_GSO_FRAME, 1) == NET_HDR_OK && h.flags == VIRTIO_NET_HDR_F_DATA_VALID,
	      "with GUEST_CSUM: DATA_VALID kept");
	h = csum_hdr();
	CHECK(net_hdr_check_rx(&h, gcsum, 60, NET_MAX_GSO_FRAME, 3) == NET_HDR_OK && h.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM &&
	      h.csum_start == 34 && h.csum_offset == 16 && h.num_buffers == 3,
	      "with GUEST_CSUM: NEEDS_CSUM kept, num_buffers 3");
	h = csum_hdr();
	CHECK(net_hdr_check_rx(&h, gcsum, 52, NET_MAX_GSO_FRAME, 1) == NET_HDR_OK, "rx checksum field ending at the frame's end: OK");
	h = csum_hdr();
	CHECK(net_hdr_check_rx(&h, gcsum, 51, NET_MAX_GSO_FRAME, 1) == NET_HDR_BAD_CSUM, "rx checksum field past the frame: BAD_CSUM");
	h = (struct virtio_net_hdr){ 0 };
	CHECK(net_hdr_check_rx(&h, gcsum, 13, NET_MAX_GSO_FRAME, 1) == NET_HDR_BAD_LENGTH, "rx 13-byte frame: BAD_LENGTH");
	h = (struct virtio_net_hdr){ 0 };
	CHECK(net_hdr_check_rx(&h, V1, 14, NET_MAX_GSO_FRAME, 1) == NET_HDR_OK, "rx 14-byte frame: OK");

	uint64_t gtso4 = gcsum | F(VIRTIO_NET_F_GUEST_TSO4), gtso6 = gcsum | F(VIRTIO_NET_F_GUEST_TSO6);
	uint64_t gall = gtso4 | gtso6 | F(VIRTIO_NET_F_GUEST_ECN);
	uint64_t hall = V1 | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
			F(VIRTIO_NET_F_HOST_ECN) | F(VIRTIO_NET_F_GUEST_CSUM);
	h = tso_hdr(VIRTIO_NET_HDR_GSO_TCPV4);
	CHECK(net_hdr_check_rx(&h, gcsum, 30000, NET_MAX_GSO_FRAME, 1) == NET_HDR_BAD_GSO, "rx TCPV4 without GUEST_TSO4: BAD_GSO");
	h = tso_hdr(VIRTIO_NET_HDR_GSO_TCPV4);
	CHECK(net_hdr_check_rx(&h, hall, 30000, NET_MAX_GSO_FRAME, 1) == NET_HDR_BAD_GSO, "rx TCPV4 with HOST_* offloads only: BAD_GSO");
	h = tso_hdr(VIRTIO_NET_HDR_GSO_TCPV4);
	CHECK(net_hdr_check_rx(&h, gtso4, 30000, NET_MAX_GSO_FRAME, 1) == NET_HDR_OK && h.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 &&
	      h.gso_size == 1448, "rx TCPV4 with GUEST_TSO4: OK");
	h = tso_hdr(VIRTIO_NET_HDR_GSO_TCPV6);
	CHECK(net_hdr_check_rx(&h, gtso4, 30000, NET_MAX_GSO_FRAME, 1) == NET_HDR_BAD_GSO, "rx TCPV6 without GUEST_TSO6: BAD_GSO");
	h = tso_hdr(VIRTIO_NET_HDR_GSO_TCPV6);
	CHECK(net_hdr_check_rx(&h, gtso6, 30000, NET_MAX_GSO_FRAME, 1) == NET_HDR_OK, "rx TCPV6 with GUEST_TSO6: OK");
	h = tso_hdr(VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN);
	CHECK(net_hdr_check_rx(&h, gtso4 | gtso6, 30000, NET_MAX_GSO_FRAME, 1) == NET_HDR_BAD_GSO, "rx TCPV4 | ECN without GUEST_ECN: BAD_GSO");
	h = tso_hdr(VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN);
	CHECK(net_hdr_check_rx(&h, gall, 30000, NET_MAX_GSO_FRAME, 1) == NET_HDR_OK, "rx TCPV4 | ECN with GUEST_ECN: OK");
	h = tso_hdr(3);
	CHECK(net_hdr_check_rx(&h, ~0ull, 30000, NET_MAX_GSO_FRAME, 1) == NET_HDR_BAD_GSO, "rx UDP (3), every feature: BAD_GSO");
	h = (struct virtio_net_hdr){ .num_buffers = 9 };
	CHECK(net_hdr_check_rx(&h, V1, 60, NET_MAX_GSO_FRAME, 0x1234) == NET_HDR_OK && h.num_buffers == 0x1234, "num_buffers set as given");
	memset(&h, 0, sizeof(h));
	CHECK(net_hdr_check_rx(&h, V1, 1518, 1518, 1) == NET_HDR_OK, "rx frame of exactly max_frame: OK");
	CHECK(net_hdr_check_rx(&h, V1, 1519, 1518, 1) == NET_HDR_BAD_LENGTH, "rx frame over max_frame: BAD_LENGTH");
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 1448;
	CHECK(net_hdr_check_rx(&h, gtso4, 30000, 1518, 1) == NET_HDR_OK, "rx TSO frame over max_frame: OK (segmented later)");
	CHECK(net_hdr_check_rx(&h, gtso4, NET_MAX_GSO_FRAME + 1, 1518, 1) == NET_HDR_BAD_LENGTH,
	      "rx TSO frame over the largest GSO frame: BAD_LENGTH");
}

static void test_tap_offloads(void)
{
	unsigned all = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
	uint64_t g = F(VIRTIO_NET_F_GUEST_CSUM);
	uint64_t tso = F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN);
	CHECK(net_tap_offloads(0) == 0 && net_tap_offloads(V1) == 0, "no guest offloads: 0");
	CHECK(net_tap_offloads(V1 | tso) == 0, "GUEST_TSO4/6/ECN without GUEST_CSUM: 0");
	CHECK(net_tap_offloads(V1 | g) == TUN_F_CSUM, "GUEST_CSUM: TUN_F_CSUM");
	CHECK(net_tap_offloads(V1 | g | F(VIRTIO_NET_F_GUEST_TSO4)) == (TUN_F_CSUM | TUN_F_TSO4), "+ GUEST_TSO4: TSO4");
	CHECK(net_tap_offloads(V1 | g | F(VIRTIO_NET_F_GUEST_TSO6)) == (TUN_F_CSUM | TUN_F_TSO6), "+ GUEST_TSO6: TSO6");
	CHECK(net_tap_offloads(V1 | g | tso) == all, "all guest offloads: CSUM|TSO4|TSO6|TSO_ECN (0x%x)",
	      net_tap_offloads(V1 | g | tso));
	CHECK(net_tap_offloads(V1 | g | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
			       F(VIRTIO_NET_F_HOST_ECN)) == TUN_F_CSUM,
	      "HOST_* offloads do not reach the TAP's receive side");
	CHECK(!(net_tap_offloads(~0ull) & (TUN_F_UFO)), "never TUN_F_UFO");

	uint64_t host = F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
			F(VIRTIO_NET_F_HOST_ECN);
	uint64_t ctrl = F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ);
	CHECK(net_features_consistent(V1) && net_features_consistent(V1 | g | tso | host | ctrl),
	      "§5.1.3.1: nothing, or every offload with what it needs: consistent");
	CHECK(!net_features_consistent(V1 | F(VIRTIO_NET_F_GUEST_TSO4)) &&
	      !net_features_consistent(V1 | F(VIRTIO_NET_F_GUEST_TSO6)) &&
	      !net_features_consistent(V1 | F(VIRTIO_NET_F_HOST_TSO4)) &&
	      !net_features_consistent(V1 | F(VIRTIO_NET_F_HOST_TSO6)),
	      "TSO without its checksum offload: refused");
	CHECK(!net_features_consistent(V1 | g | F(VIRTIO_NET_F_GUEST_ECN)) &&
	      !net_features_consistent(V1 | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_ECN)) &&
	      net_features_consistent(V1 | g | F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN)),
	      "ECN needs TSO4 or TSO6 (one is enough)");
	CHECK(!net_features_consistent(V1 | F(VIRTIO_NET_F_MQ)) && net_features_consistent(V1 | F(VIRTIO_NET_F_CTRL_VQ)),
	      "MQ needs CTRL_VQ, not the other way round");

	const char *s[4] = { net_hdr_verdict_str(NET_HDR_OK), net_hdr_verdict_str(NET_HDR_BAD_CSUM),
			     net_hdr_verdict_str(NET_HDR_BAD_GSO), net_hdr_verdict_str(NET_HDR_BAD_LENGTH) };
	bool distinct = true;
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < i; j++)
			distinct = distinct && s[i] && s[j] && strcmp(s[i], s[j]) != 0;
	CHECK(distinct && net_hdr_verdict_str((enum net_hdr_verdict)99) != NULL,
	      "each verdict has its own text, and an unknown one still a string");
}

int main(void)
{
	test_wire();
	test_tx_plain();
	test_tx_csum();
	test_tx_gso();
	test_rx();
	test_tap_offloads();
	return tap_finish();
}
