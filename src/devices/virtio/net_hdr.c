#include "devices/virtio/net_hdr.h"

#include <endian.h>
#include <linux/if_tun.h>
#include <stdbool.h>
#include <string.h>

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return le16toh(v);
}

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

void net_hdr_load(struct virtio_net_hdr *h, const uint8_t wire[VIRTIO_NET_HDR_LEN])
{
	h->flags = wire[0];
	h->gso_type = wire[1];
	h->hdr_len = get16(wire + 2);
	h->gso_size = get16(wire + 4);
	h->csum_start = get16(wire + 6);
	h->csum_offset = get16(wire + 8);
	h->num_buffers = get16(wire + 10);
}

void net_hdr_store(const struct virtio_net_hdr *h, uint8_t wire[VIRTIO_NET_HDR_LEN])
{
	wire[0] = h->flags;
	wire[1] = h->gso_type;
	put16(wire + 2, h->hdr_len);
	put16(wire + 4, h->gso_size);
	put16(wire + 6, h->csum_start);
	put16(wire + 8, h->csum_offset);
	put16(wire + 10, h->num_buffers);
}

static bool has(uint64_t features, unsigned bit)
{
	return (features >> bit) & 1;
}

/*
 * Whether segmentation type `gso_type` (ECN bit included) is allowed by the
 * feature bits tso4, tso6 and ecn of one direction (HOST_* for transmit,
 * GUEST_* for receive).
 */
static bool gso_allowed(uint8_t gso_type, uint64_t features, unsigned tso4, unsigned tso6, unsigned ecn)
{
	if ((gso_type & VIRTIO_NET_HDR_GSO_ECN) && !has(features, ecn))
		return false;
	switch (gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return !(gso_type & VIRTIO_NET_HDR_GSO_ECN);
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return has(features, tso4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return has(features, tso6);
	default:
		return false;
	}
}

/* The checksum field, 2 bytes at csum_start + csum_offset, lies inside the frame (§5.1.6.2). */
static bool csum_in_frame(const struct virtio_net_hdr *h, uint64_t frame_len)
{
	return (uint64_t)h->csum_start + h->csum_offset + 2 <= frame_len;
}

/* At least an Ethernet header; at most max_frame, or a segmentation offload's largest. */
static bool length_ok(const struct virtio_net_hdr *h, uint64_t frame_len, uint64_t max_frame)
{
	bool gso = h->gso_type != VIRTIO_NET_HDR_GSO_NONE;
	return frame_len >= ETH_HEADER_LEN && frame_len <= (gso ? NET_MAX_GSO_FRAME : max_frame);
}

enum net_hdr_verdict net_hdr_check_tx(const struct virtio_net_hdr *in, uint64_t features,
				      uint64_t frame_len, uint64_t max_frame,
				      struct virtio_net_hdr *out)
{
	if (!length_ok(in, frame_len, max_frame))
		return NET_HDR_BAD_LENGTH;
	/* Only NEEDS_CSUM is the driver's to set; the device ignores the rest (§5.1.6.2.2). */
	uint8_t flags = in->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
	if (flags && (!has(features, VIRTIO_NET_F_CSUM) || !csum_in_frame(in, frame_len)))
		return NET_HDR_BAD_CSUM;
	if (!gso_allowed(in->gso_type, features, VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6,
			 VIRTIO_NET_F_HOST_ECN))
		return NET_HDR_BAD_GSO;
	if (in->gso_type != VIRTIO_NET_HDR_GSO_NONE && (in->gso_size == 0 || in->hdr_len > frame_len))
		return NET_HDR_BAD_GSO;
	*out = *in;
	out->flags = flags;
	out->num_buffers = 0;
	return NET_HDR_OK;
}

enum net_hdr_verdict net_hdr_check_rx(struct virtio_net_hdr *h, uint64_t features,
				      uint64_t frame_len, uint64_t max_frame, uint16_t num_buffers)
{
	if (!length_ok(h, frame_len, max_frame))
		return NET_HDR_BAD_LENGTH;
	/* Without GUEST_CSUM the device MUST set flags to zero (§5.1.6.3.1). */
	if (!has(features, VIRTIO_NET_F_GUEST_CSUM)) {
		if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			return NET_HDR_BAD_CSUM;
		h->flags = 0;
	}
	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !csum_in_frame(h, frame_len))
		return NET_HDR_BAD_CSUM;
	if (!gso_allowed(h->gso_type, features, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6,
			 VIRTIO_NET_F_GUEST_ECN))
		return NET_HDR_BAD_GSO;
	h->num_buffers = num_buffers;
	return NET_HDR_OK;
}

unsigned net_tap_offloads(uint64_t features)
{
	/* The kernel takes segmentation offloads only with checksum offload. */
	if (!has(features, VIRTIO_NET_F_GUEST_CSUM))
		return 0;
	unsigned flags = TUN_F_CSUM;
	if (has(features, VIRTIO_NET_F_GUEST_TSO4))
		flags |= TUN_F_TSO4;
	if (has(features, VIRTIO_NET_F_GUEST_TSO6))
		flags |= TUN_F_TSO6;
	if (has(features, VIRTIO_NET_F_GUEST_ECN))
		flags |= TUN_F_TSO_ECN;
	return flags;
}

/* §5.1.3.1: a feature the driver takes needs these taken too (any one of `needs`). */
static const struct { unsigned feature; uint64_t needs; } feature_needs[] = {
	{ VIRTIO_NET_F_GUEST_TSO4, 1ull << VIRTIO_NET_F_GUEST_CSUM },
	{ VIRTIO_NET_F_GUEST_TSO6, 1ull << VIRTIO_NET_F_GUEST_CSUM },
	{ VIRTIO_NET_F_GUEST_ECN, 1ull << VIRTIO_NET_F_GUEST_TSO4 | 1ull << VIRTIO_NET_F_GUEST_TSO6 },
	{ VIRTIO_NET_F_HOST_TSO4, 1ull << VIRTIO_NET_F_CSUM },
	{ VIRTIO_NET_F_HOST_TSO6, 1ull << VIRTIO_NET_F_CSUM },
	{ VIRTIO_NET_F_HOST_ECN, 1ull << VIRTIO_NET_F_HOST_TSO4 | 1ull << VIRTIO_NET_F_HOST_TSO6 },
	{ VIRTIO_NET_F_MQ, 1ull << VIRTIO_NET_F_CTRL_VQ },
};

bool net_features_consistent(uint64_t features)
{
	for (size_t i = 0; i < sizeof(feature_needs) / sizeof(feature_needs[0]); i++)
		if (has(features, feature_needs[i].feature) && !(features & feature_needs[i].needs))
			return false;
	return true;
}

const char *net_hdr_verdict_str(enum net_hdr_verdict v)
{
	switch (v) {
	case NET_HDR_OK:
		return "ok";
	case NET_HDR_BAD_CSUM:
		return "checksum offload not negotiated or outside the frame";
	case NET_HDR_BAD_GSO:
		return "segmentation offload not negotiated or malformed";
	case NET_HDR_BAD_LENGTH:
		return "frame too short or too long";
	}
	return "?";
}
