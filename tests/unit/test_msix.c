/* MSI-X: the capability, table writes, masking and pending bits. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration/state.h"
#include "pci/msix.h"
#include "state_blob.h"
#include "tap.h"

struct sink_log {
	unsigned delivered[8];
	bool usable[8];
	uint64_t address[8];
	uint32_t data[8];
};

static void vector_changed(void *ctx, unsigned v, bool usable, uint64_t address, uint32_t data)
{
	struct sink_log *log = ctx;
	log->usable[v] = usable;
	log->address[v] = address;
	log->data[v] = data;
}

static void deliver(void *ctx, unsigned v)
{
	struct sink_log *log = ctx;
	log->delivered[v]++;
}

static void write32(struct msix *m, uint64_t offset, uint32_t v)
{
	msix_table_write(m, offset, &v, 4);
}

static uint32_t read32(struct msix *m, uint64_t offset)
{
	uint32_t v;
	msix_table_read(m, offset, &v, 4);
	return v;
}

static void set_msgctl(struct pci_device *dev, struct msix *m, uint16_t bits)
{
	pci_config_write(dev, m->cap + 2, 2, bits);
	msix_config_written(m, m->cap + 2, 2);
}

/* ---- snapshots ---- */

#define SLOT 3

static const struct pci_id snap_id = { .vendor = 0x1af4, .device = 0x1044 };

/* A device with MSI-X as a fresh vmon process builds it. */
struct side {
	struct pci_device dev;
	struct msix m;
	struct sink_log log;
};

static void side_init(struct side *s, unsigned nr_vectors)
{
	memset(s, 0, sizeof(*s));
	pci_device_init(&s->dev, "msix-snap", &snap_id);
	struct msix_sink sink = { .vector_changed = vector_changed, .deliver = deliver, .ctx = &s->log };
	msix_init(&s->m, &s->dev, nr_vectors, 2, 0x0, 0x800, &sink);
}

static void side_fini(struct side *s)
{
	msix_destroy(&s->m);
	pci_device_destroy(&s->dev);
}

static uint8_t *save_side(struct side *s, struct state_reader *r)
{
	struct state_writer w;
	state_writer_init(&w);
	pci_device_save(&s->dev, &w, SLOT);
	msix_save(&s->m, &w, SLOT);
	return state_blob_open(&w, r);
}

static int load_side(struct side *s, const struct state_reader *r)
{
	int ret = pci_device_load(&s->dev, r, SLOT);
	return ret < 0 ? ret : msix_load(&s->m, r, SLOT);
}

static bool same_table_and_pba(struct side *a, struct side *b)
{
	for (unsigned o = 0; o < msix_table_size(a->m.nr_vectors); o += 4)
		if (read32(&a->m, o) != read32(&b->m, o))
			return false;
	uint64_t pa = 0, pb = 0;
	msix_pba_read(&a->m, 0, &pa, 8);
	msix_pba_read(&b->m, 0, &pb, 8);
	return pa == pb;
}

static void test_snapshot_round_trip(void)
{
	struct side a, b;
	side_init(&a, 8);
	set_msgctl(&a.dev, &a.m, 0x8000);
	write32(&a.m, 3 * 16 + 0, 0xfee01000);
	write32(&a.m, 3 * 16 + 8, 0x4041);
	write32(&a.m, 3 * 16 + 12, 0);
	write32(&a.m, 5 * 16 + 0, 0xfee02000);
	write32(&a.m, 5 * 16 + 4, 0x1);
	write32(&a.m, 5 * 16 + 8, 0x4052);
	msix_notify(&a.m, 5); /* masked: pending */
	struct state_reader r;
	uint8_t *blob = save_side(&a, &r);

	side_init(&b, 8);
	CHECK(load_side(&b, &r) == 0, "snapshot: MSI-X loads after the config space");
	CHECK(same_table_and_pba(&a, &b), "table and PBA read as in the saved device");
	CHECK(pci_config_read(&b.dev, b.m.cap + 2, 2) == pci_config_read(&a.dev, a.m.cap + 2, 2) &&
	      b.m.enabled && !b.m.function_masked, "message control and the model's flags agree");
	CHECK(b.log.usable[3] && b.log.address[3] == 0xfee01000 && b.log.data[3] == 0x4041,
	      "the sink heard of the usable vector (its KVM route is re-created)");
	CHECK(!b.log.usable[5] && b.log.address[5] == 0x1fee02000ull && b.log.data[5] == 0x4052,
	      "and of the masked one, with its message");
	CHECK(b.log.delivered[3] == 0 && b.log.delivered[5] == 0, "nothing delivered on load");
	write32(&b.m, 5 * 16 + 12, 0);
	CHECK(b.log.delivered[5] == 1, "the pending vector is delivered when the guest unmasks it");
	msix_notify(&b.m, 3);
	CHECK(b.log.delivered[3] == 1, "a usable vector delivers at once");
	free(blob);
	side_fini(&b);
	side_fini(&a);
}

/* An MSI-X section written by hand, for states a device cannot reach by itself. */
struct msix_image {
	uint32_t nr_vectors;
	struct msix_entry table[8];
	uint64_t pba;
	uint8_t enabled, function_masked;
};

static struct msix_image masked_image(void)
{
	struct msix_image img = { .nr_vectors = 8 };
	for (unsigned v = 0; v < 8; v++)
		img.table[v] = (struct msix_entry){ .address = 0xfee00000, .data = v, .control = 1 };
	return img;
}

static uint8_t *image_blob(struct side *cfg_from, const struct msix_image *img, size_t cut,
			   struct state_reader *r)
{
	struct state_writer w;
	state_writer_init(&w);
	pci_device_save(&cfg_from->dev, &w, SLOT);
	state_begin(&w, STATE_TAG_MSIX, SLOT);
	size_t start = w.len;
	state_put_u32(&w, img->nr_vectors);
	for (unsigned v = 0; v < 8; v++) {
		state_put_u64(&w, img->table[v].address);
		state_put_u32(&w, img->table[v].data);
		state_put_u32(&w, img->table[v].control);
	}
	state_put_u64(&w, img->pba);
	state_put_u8(&w, img->enabled);
	state_put_u8(&w, img->function_masked);
	if (cut)
		w.len = start + cut; /* a truncated payload */
	state_end(&w);
	return state_blob_open(&w, r);
}

/* Loads `img` into a fresh 8-vector device whose config space comes from `cfg_from`. */
static int load_image(struct side *cfg_from, const struct msix_image *img, size_t cut, struct side *b)
{
	struct state_reader r;
	uint8_t *blob = image_blob(cfg_from, img, cut, &r);
	side_init(b, 8);
	int ret = load_side(b, &r);
	free(blob);
	return ret;
}

static void test_snapshot_pending_and_usable(void)
{
	struct side a, b;
	side_init(&a, 8);
	set_msgctl(&a.dev, &a.m, 0x8000);
	struct msix_image img = masked_image();
	img.enabled = 1;
	img.table[2].control = 0;
	img.pba = 1u << 2 | 1u << 4;
	CHECK(load_image(&a, &img, 0, &b) == 0, "snapshot: a usable vector with its pending bit loads");
	uint64_t pba = 0;
	msix_pba_read(&b.m, 0, &pba, 8);
	CHECK(b.log.delivered[2] == 1 && pba == 1u << 4,
	      "it is delivered and cleared, as on unmask; a masked one stays pending");
	side_fini(&b);
	side_fini(&a);
}

static void test_snapshot_refusals(void)
{
	struct side a, b;
	side_init(&a, 8);
	struct msix_image img = masked_image();
	CHECK(load_image(&a, &img, 0, &b) == 0, "snapshot: the baseline hand-made state loads");
	side_fini(&b);

	struct state_reader r;
	struct state_writer w;
	state_writer_init(&w);
	pci_device_save(&a.dev, &w, SLOT);
	uint8_t *blob = state_blob_open(&w, &r);
	side_init(&b, 8);
	CHECK(load_side(&b, &r) == -EINVAL, "refused: no MSI-X section");
	free(blob);
	side_fini(&b);

	CHECK(load_image(&a, &img, 4 + 16 * 8, &b) == -EINVAL, "refused: section cut before the PBA");
	side_fini(&b);
	CHECK(load_image(&a, &img, 2, &b) == -EINVAL, "refused: section cut inside the vector count");
	side_fini(&b);

	img.table[6].address = 0xfee00002;
	CHECK(load_image(&a, &img, 0, &b) == -EINVAL, "refused: a message address not dword aligned");
	CHECK(read32(&b.m, 6 * 16) == 0 && read32(&b.m, 6 * 16 + 12) == 1,
	      "the refused table was not applied");
	side_fini(&b);
	img = masked_image();
	img.table[1].control = 0x3;
	CHECK(load_image(&a, &img, 0, &b) == -EINVAL, "refused: vector control bits beyond the mask");
	side_fini(&b);
	img = masked_image();
	img.pba = 1ull << 8;
	CHECK(load_image(&a, &img, 0, &b) == -EINVAL, "refused: a pending bit past the last vector");
	side_fini(&b);
	img = masked_image();
	img.enabled = 1;
	CHECK(load_image(&a, &img, 0, &b) == -EINVAL && !b.m.enabled,
	      "refused: enabled while config space says disabled");
	side_fini(&b);
	img = masked_image();
	img.function_masked = 1;
	CHECK(load_image(&a, &img, 0, &b) == -EINVAL, "refused: function-masked against config space");
	side_fini(&b);
	img = masked_image();
	img.nr_vectors = 9;
	CHECK(load_image(&a, &img, 0, &b) == -EINVAL, "refused: a section that says 9 vectors, for 8");
	side_fini(&b);
	img = masked_image();
	img.enabled = 2;
	CHECK(load_image(&a, &img, 0, &b) == -EINVAL, "refused: a flag that is not a bool");
	side_fini(&b);

	blob = save_side(&a, &r);
	side_init(&b, 16);
	CHECK(msix_load(&b.m, &r, SLOT) == -EINVAL, "refused: 8 saved vectors into a 16-vector device");
	CHECK(read32(&b.m, 12) == 1 && b.log.address[0] == 0, "which is left as created");
	free(blob);
	side_fini(&b);
	side_fini(&a);
}

int main(void)
{
	static const struct pci_id id = { .vendor = 0x1af4, .device = 0x1044 };
	struct pci_device dev;
	pci_device_init(&dev, "msix-test", &id);
	struct sink_log log = { 0 };
	struct msix_sink sink = { .vector_changed = vector_changed, .deliver = deliver, .ctx = &log };
	struct msix m;
	CHECK(msix_init(&m, &dev, 0, 2, 0, 0x800, &sink) < 0, "zero vectors refused");
	CHECK(msix_init(&m, &dev, 8, 2, 0x4, 0x800, &sink) < 0, "unaligned table offset refused");
	CHECK(msix_init(&m, &dev, 8, 2, 0x0, 0x800, &sink) == 0, "8 vectors in BAR2");

	CHECK(pci_config_read(&dev, m.cap, 1) == PCI_CAP_ID_MSIX, "capability id 0x11");
	CHECK((pci_config_read(&dev, m.cap + 2, 2) & 0x7ff) == 7, "table size field is N - 1");
	CHECK(pci_config_read(&dev, m.cap + 4, 4) == (0x0 | 2), "table offset and BIR");
	CHECK(pci_config_read(&dev, m.cap + 8, 4) == (0x800 | 2), "PBA offset and BIR");
	CHECK(msix_table_size(8) == 128 && msix_pba_size(8) == 8 && msix_pba_size(65) == 16, "sizes");
	CHECK(read32(&m, 3 * 16 + 12) == 1, "vectors start masked");

	write32(&m, 3 * 16 + 0, 0xfee01000);
	write32(&m, 3 * 16 + 4, 0);
	write32(&m, 3 * 16 + 8, 0x4041);
	CHECK(read32(&m, 3 * 16) == 0xfee01000 && read32(&m, 3 * 16 + 8) == 0x4041, "table entry reads back");
	CHECK(log.address[3] == 0xfee01000 && log.data[3] == 0x4041 && !log.usable[3],
	      "sink told the message; not usable while disabled and masked");

	msix_notify(&m, 3);
	CHECK(log.delivered[3] == 0, "disabled: nothing delivered");
	set_msgctl(&dev, &m, 0x8000);
	msix_notify(&m, 3);
	uint64_t pba = 0;
	msix_pba_read(&m, 0, &pba, 8);
	CHECK(log.delivered[3] == 0 && pba == (1u << 3), "enabled but masked: pending bit set");
	write32(&m, 3 * 16 + 12, 0);
	msix_pba_read(&m, 0, &pba, 8);
	CHECK(log.delivered[3] == 1 && pba == 0 && log.usable[3], "unmask delivers the pending vector and clears it");
	msix_notify(&m, 3);
	CHECK(log.delivered[3] == 2, "usable vector delivered at once");

	set_msgctl(&dev, &m, 0x8000 | 0x4000);
	msix_notify(&m, 3);
	CHECK(log.delivered[3] == 2 && !log.usable[3], "function mask holds it back");
	set_msgctl(&dev, &m, 0x8000);
	CHECK(log.delivered[3] == 3, "function unmask delivers it");

	uint64_t q = 0x00000000fee02000ull;
	msix_table_write(&m, 5 * 16, &q, 8);
	CHECK(log.address[5] == 0xfee02000, "qword write to the address");
	uint16_t half = 0xffff;
	msix_table_write(&m, 5 * 16 + 8, &half, 2);
	CHECK(read32(&m, 5 * 16 + 8) == 0, "word access ignored (§6.8.2: dword or qword only)");
	write32(&m, 7 * 16 + 16, 0x1234);
	CHECK(read32(&m, 7 * 16 + 16) == 0xffffffffu, "access past the table ignored, reads all-ones");
	unsigned before = 0, after = 0;
	for (unsigned v = 0; v < 8; v++)
		before += log.delivered[v];
	msix_notify(&m, 99);
	for (unsigned v = 0; v < 8; v++)
		after += log.delivered[v];
	CHECK(after == before, "notify on a vector that does not exist is ignored");

	msix_destroy(&m);
	pci_device_destroy(&dev);

	test_snapshot_round_trip();
	test_snapshot_pending_and_usable();
	test_snapshot_refusals();
	return tap_finish();
}
