/*
 * The virtio-net packet header (virtio 1.2 §5.1.6) and what vmon checks in
 * it on its way between the guest and a TAP interface, which takes and
 * gives the same 12-byte header (TUNSETVNETHDRSZ 12).
 *
 * Guest to host (transmit), the header is copied out of guest memory and
 * checked against the negotiated features before the kernel sees it: a
 * driver may only ask for the offloads it negotiated (§5.1.6.2). Host to
 * guest (receive), the kernel's header is checked the same way against the
 * guest's offloads, and num_buffers is filled in (§5.1.6.4).
 *
 * UDP fragmentation offload (UFO) is neither offered nor accepted: Linux
 * removed it from its own stack and a TAP may no longer produce it.
 */
#ifndef VMON_DEVICES_VIRTIO_NET_HDR_H
#define VMON_DEVICES_VIRTIO_NET_HDR_H

#include <stdbool.h>
#include <stdint.h>

/* Feature bits (§5.1.3). */
#define VIRTIO_NET_F_CSUM            0
#define VIRTIO_NET_F_GUEST_CSUM      1
#define VIRTIO_NET_F_MTU             3
#define VIRTIO_NET_F_MAC             5
#define VIRTIO_NET_F_GUEST_TSO4      7
#define VIRTIO_NET_F_GUEST_TSO6      8
#define VIRTIO_NET_F_GUEST_ECN       9
#define VIRTIO_NET_F_HOST_TSO4       11
#define VIRTIO_NET_F_HOST_TSO6       12
#define VIRTIO_NET_F_HOST_ECN        13
#define VIRTIO_NET_F_MRG_RXBUF       15
#define VIRTIO_NET_F_STATUS          16
#define VIRTIO_NET_F_CTRL_VQ         17
#define VIRTIO_NET_F_MQ              22

/* struct virtio_net_hdr flags and gso_type (§5.1.6). */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM  1
#define VIRTIO_NET_HDR_F_DATA_VALID  2
#define VIRTIO_NET_HDR_GSO_NONE      0
#define VIRTIO_NET_HDR_GSO_TCPV4     1
#define VIRTIO_NET_HDR_GSO_TCPV6     4
#define VIRTIO_NET_HDR_GSO_ECN       0x80

/* Host byte order; net_hdr_load/net_hdr_store convert from and to the wire. */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

#define VIRTIO_NET_HDR_LEN 12 /* on the wire: VERSION_1 always has num_buffers */

#define ETH_HEADER_LEN   14
#define ETH_VLAN_TAG_LEN 4
/* The largest frame a segmentation offload carries: an IP datagram of 64 KiB, framed. */
#define NET_MAX_GSO_FRAME (ETH_HEADER_LEN + ETH_VLAN_TAG_LEN + 65535)

void net_hdr_load(struct virtio_net_hdr *h, const uint8_t wire[VIRTIO_NET_HDR_LEN]);
void net_hdr_store(const struct virtio_net_hdr *h, uint8_t wire[VIRTIO_NET_HDR_LEN]);

/* Why a header was refused: for counters and the one log line. */
enum net_hdr_verdict {
	NET_HDR_OK,
	NET_HDR_BAD_CSUM,     /* checksum offload not negotiated, or outside the frame */
	NET_HDR_BAD_GSO,      /* segmentation offload not negotiated, or malformed */
	NET_HDR_BAD_LENGTH,   /* frame shorter than an Ethernet header, or too large */
};

/*
 * Checks a transmit header from the guest, of a frame of frame_len bytes
 * (header excluded), against the negotiated `features` and the largest
 * frame without segmentation `max_frame`; on NET_HDR_OK, *out is what to
 * give the TAP: flags only the driver may set, num_buffers 0.
 */
enum net_hdr_verdict net_hdr_check_tx(const struct virtio_net_hdr *in, uint64_t features,
				      uint64_t frame_len, uint64_t max_frame,
				      struct virtio_net_hdr *out);

/*
 * Checks a receive header from the TAP, of a frame of frame_len bytes,
 * against the guest's offloads and the largest frame without segmentation
 * it takes, max_frame (§5.1.4.1: never more than the MTU offered), and
 * sets num_buffers. The kernel follows TUNSETOFFLOAD, so a refusal here
 * means the host and vmon disagree (or the TAP's MTU grew): the frame is
 * dropped.
 */
enum net_hdr_verdict net_hdr_check_rx(struct virtio_net_hdr *h, uint64_t features,
				      uint64_t frame_len, uint64_t max_frame, uint16_t num_buffers);

/* The TUN_F_* offloads (linux/if_tun.h) the guest's features let the TAP hand it. */
unsigned net_tap_offloads(uint64_t features);

/* True when every feature in `features` has the ones it requires (§5.1.3.1). */
bool net_features_consistent(uint64_t features);

const char *net_hdr_verdict_str(enum net_hdr_verdict v);

#endif
