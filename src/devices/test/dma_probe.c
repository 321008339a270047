#include "devices/test/dma_probe.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct dma_probe {
	const struct dma_space *dma;
	/* Protects iova and result: any vCPU may write the ports. */
	pthread_mutex_t lock;
	uint64_t iova;
	uint8_t result;
};

static void dma_probe_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	struct dma_probe *probe = dev;
	memset(data, 0, len);
	if (offset == 0) {
		pthread_mutex_lock(&probe->lock);
		*(uint8_t *)data = probe->result;
		pthread_mutex_unlock(&probe->lock);
	}
}

static enum dma_probe_result probe_once(const struct dma_space *dma, uint64_t iova)
{
	static const char marker[4] = "VMON";
	int ret = dma_write(dma, iova, marker, sizeof(marker));
	return ret == 0 ? DMA_PROBE_WRITTEN : ret == -EFAULT ? DMA_PROBE_REFUSED : DMA_PROBE_NOT_RAM;
}

/* Bytes land in the address latch; the one at offset 7 fires the probe. */
static void dma_probe_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct dma_probe *probe = dev;
	const uint8_t *bytes = data;
	pthread_mutex_lock(&probe->lock);
	bool fire = false;
	for (uint32_t i = 0; i < len && offset + i < DMA_PROBE_SIZE; i++) {
		unsigned shift = 8 * (unsigned)(offset + i);
		probe->iova = (probe->iova & ~(0xffull << shift)) | (uint64_t)bytes[i] << shift;
		fire |= offset + i == DMA_PROBE_SIZE - 1;
	}
	if (fire) { /* the guest reads the outcome; --verbose logs it (not mixed into the console) */
		probe->result = (uint8_t)probe_once(probe->dma, probe->iova);
		log_debug("test hook: DMA write to 0x%llx %s", (unsigned long long)probe->iova,
			 probe->result == DMA_PROBE_WRITTEN ? "done" :
			 probe->result == DMA_PROBE_REFUSED ? "refused by the IOMMU" : "outside guest RAM");
	}
	pthread_mutex_unlock(&probe->lock);
}

static const struct bus_ops dma_probe_ops = { .read = dma_probe_read, .write = dma_probe_write };

struct dma_probe *dma_probe_create(const struct dma_space *dma)
{
	struct dma_probe *probe = calloc(1, sizeof(*probe));
	if (!probe)
		return NULL;
	probe->dma = dma;
	probe->result = DMA_PROBE_NONE;
	pthread_mutex_init(&probe->lock, NULL);
	return probe;
}

int dma_probe_register(struct dma_probe *probe, struct bus *mmio, uint64_t base)
{
	return bus_register(mmio, base, DMA_PROBE_SIZE, &dma_probe_ops, probe, "dma-probe");
}

void dma_probe_destroy(struct dma_probe *probe)
{
	if (!probe)
		return;
	pthread_mutex_destroy(&probe->lock);
	free(probe);
}
