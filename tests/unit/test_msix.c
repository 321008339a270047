/* MSI-X: the capability, table writes, masking and pending bits. */
#include <stdint.h>
#include <string.h>

#include "pci/msix.h"
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
	return tap_finish();
}
