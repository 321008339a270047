/*
 * --iommu intel and --test-hooks on the machine: the VT-d unit on the MMIO
 * bus, its own interrupts through KVM, its interrupt remapping in front of
 * every MSI route and of the IOAPIC, every PCI device's DMA through it; and
 * the DMA probe that tests use to make a device stray.
 */
#include "vmm/machine_iommu.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "devices/test/dma_probe.h"
#include "iommu/vtd.h"
#include "util/log.h"

/* The unit's fault event and invalidation completion interrupts: never remapped. */
static void vtd_signal_msi(void *ctx, uint64_t address, uint32_t data)
{
	struct machine *m = ctx;
	int ret = hv_vm_signal_msi(m->vm, address, data);
	if (ret < 0)
		log_error("cannot signal the IOMMU's interrupt: %s", strerror(-ret));
}

/* The remapping table or the guest's view of it changed: every route anew. */
static void vtd_interrupts_changed(void *ctx)
{
	struct machine *m = ctx;
	int ret = msi_routes_refresh(&m->msi);
	if (ret < 0)
		log_error("cannot re-route interrupts after an IOMMU change: %s", strerror(-ret));
}

static int vtd_remap(void *ctx, uint16_t source_id, uint64_t *address, uint32_t *data,
		     bool record_fault)
{
	struct machine *m = ctx;
	return vtd_remap_msi(m->vtd, source_id, address, data, record_fault);
}

static int create_vtd(struct machine *m)
{
	struct vtd_config cfg = {
		.intremap = m->cfg->iommu.intremap, .caching_mode = m->cfg->iommu.caching_mode,
	};
	struct vtd_hooks hooks = {
		.signal_msi = vtd_signal_msi, .interrupts_changed = vtd_interrupts_changed, .ctx = m,
	};
	int ret = vtd_create(&m->vtd, &m->mem, &cfg, &hooks);
	if (ret == 0)
		ret = bus_register(m->mmio, LAYOUT_VTD_BASE, LAYOUT_VTD_SIZE, &vtd_bus_ops, m->vtd, "vt-d");
	if (ret == 0 && cfg.intremap) {
		struct msi_remapper remapper = { .remap = vtd_remap, .ctx = m };
		ret = msi_routes_set_remapper(&m->msi, &remapper);
	}
	if (ret == 0)
		ret = platform_set_iommu(&m->platform, vtd_dma_translator(m->vtd));
	if (ret < 0)
		log_error("cannot set up the IOMMU: %s", strerror(-ret));
	return ret;
}

static int create_dma_probe(struct machine *m)
{
	m->dma_probe = dma_probe_create(platform_probe_dma_space(&m->platform));
	int ret = m->dma_probe ? dma_probe_register(m->dma_probe, m->mmio, LAYOUT_DMA_PROBE_BASE) : -ENOMEM;
	if (ret < 0)
		log_error("cannot set up --test-hooks: %s", strerror(-ret));
	return ret;
}

int machine_iommu_create(struct machine *m)
{
	int ret = 0;
	if (m->cfg->iommu.kind == IOMMU_INTEL)
		ret = create_vtd(m);
	if (ret == 0 && m->cfg->test_hooks)
		ret = create_dma_probe(m);
	return ret;
}

void machine_iommu_destroy(struct machine *m)
{
	dma_probe_destroy(m->dma_probe);
	m->dma_probe = NULL;
	if (m->msi_ready)
		msi_routes_set_remapper(&m->msi, NULL);
	vtd_destroy(m->vtd);
	m->vtd = NULL;
}
