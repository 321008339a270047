#include "pci/msix.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "migration/state.h"
#include "util/log.h"

#define MSGCTL_OFFSET        2
#define MSGCTL_ENABLE        (1u << 15)
#define MSGCTL_FUNCTION_MASK (1u << 14)
#define ENTRY_CONTROL_MASKED 1u

uint32_t msix_table_size(unsigned nr_vectors)
{
	return nr_vectors * MSIX_ENTRY_SIZE;
}

uint32_t msix_pba_size(unsigned nr_vectors)
{
	return ((nr_vectors + 63) / 64) * 8;
}

int msix_init(struct msix *m, struct pci_device *dev, unsigned nr_vectors, unsigned bar,
	      uint32_t table_offset, uint32_t pba_offset, const struct msix_sink *sink)
{
	memset(m, 0, sizeof(*m));
	if (nr_vectors == 0 || nr_vectors > MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS ||
	    table_offset % 8 || pba_offset % 8)
		return -EINVAL;
	m->table = calloc(nr_vectors, sizeof(*m->table));
	m->pending = calloc(msix_pba_size(nr_vectors) / 8, sizeof(uint64_t));
	if (!m->table || !m->pending) {
		msix_destroy(m);
		return -ENOMEM;
	}
	for (unsigned v = 0; v < nr_vectors; v++)
		m->table[v].control = ENTRY_CONTROL_MASKED; /* §6.8.2.9: masked after reset */

	/* Message control: table size - 1; enable and function mask are the guest's. */
	uint8_t body[12] = { 0 }, writable[12] = { 0 };
	uint16_t msgctl = (uint16_t)(nr_vectors - 1);
	uint32_t table = table_offset | bar, pba = pba_offset | bar;
	memcpy(&body[2], &msgctl, 2);
	memcpy(&body[4], &table, 4);
	memcpy(&body[8], &pba, 4);
	writable[3] = (MSGCTL_ENABLE | MSGCTL_FUNCTION_MASK) >> 8;
	int cap = pci_device_add_capability(dev, PCI_CAP_ID_MSIX, body, sizeof(body), writable);
	if (cap < 0) {
		msix_destroy(m);
		return cap;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->dev = dev;
	m->cap = (unsigned)cap;
	m->nr_vectors = nr_vectors;
	m->sink = *sink;
	return 0;
}

void msix_destroy(struct msix *m)
{
	if (m->dev)
		pthread_mutex_destroy(&m->lock);
	free(m->table);
	free(m->pending);
	memset(m, 0, sizeof(*m));
}

static bool is_pending(const struct msix *m, unsigned v)
{
	return m->pending[v / 64] & (1ull << (v % 64));
}

static void set_pending(struct msix *m, unsigned v, bool on)
{
	if (on)
		m->pending[v / 64] |= 1ull << (v % 64);
	else
		m->pending[v / 64] &= ~(1ull << (v % 64));
}

/* Enabled, not function-masked, vector not masked. Caller holds the lock. */
static bool usable(const struct msix *m, unsigned v)
{
	return m->enabled && !m->function_masked && !(m->table[v].control & ENTRY_CONTROL_MASKED);
}

/*
 * After any change: tells the sink how each vector in [first, last] stands
 * and delivers what was pending and is now usable (§6.8.2.9). Sink calls
 * are made under the lock, which keeps their order the guest's order.
 */
static void refresh(struct msix *m, unsigned first, unsigned last)
{
	for (unsigned v = first; v <= last; v++) {
		const struct msix_entry *e = &m->table[v];
		m->sink.vector_changed(m->sink.ctx, v, usable(m, v), e->address, e->data);
		if (usable(m, v) && is_pending(m, v)) {
			set_pending(m, v, false);
			m->sink.deliver(m->sink.ctx, v);
		}
	}
}

static uint32_t entry_dword(const struct msix_entry *e, unsigned index)
{
	switch (index) {
	case 0:
		return (uint32_t)e->address;
	case 1:
		return (uint32_t)(e->address >> 32);
	case 2:
		return e->data;
	default:
		return e->control;
	}
}

static void set_entry_dword(struct msix_entry *e, unsigned index, uint32_t v)
{
	switch (index) {
	case 0:
		e->address = (e->address & ~0xffffffffull) | (v & ~0x3u); /* dword aligned */
		break;
	case 1:
		e->address = (e->address & 0xffffffffull) | (uint64_t)v << 32;
		break;
	case 2:
		e->data = v;
		break;
	default:
		e->control = v & ENTRY_CONTROL_MASKED;
		break;
	}
}

/* §6.8.2: the table is accessed in aligned dwords or qwords; anything else is ignored. */
static bool table_access_ok(const struct msix *m, uint64_t offset, uint32_t len)
{
	return (len == 4 || len == 8) && offset % len == 0 &&
	       offset + len <= msix_table_size(m->nr_vectors);
}

void msix_table_read(struct msix *m, uint64_t offset, void *data, uint32_t len)
{
	memset(data, 0xff, len);
	if (!table_access_ok(m, offset, len))
		return;
	pthread_mutex_lock(&m->lock);
	for (uint32_t i = 0; i < len / 4; i++) {
		uint64_t o = offset + 4 * i;
		uint32_t v = entry_dword(&m->table[o / MSIX_ENTRY_SIZE], (unsigned)(o % MSIX_ENTRY_SIZE) / 4);
		memcpy((uint8_t *)data + 4 * i, &v, 4);
	}
	pthread_mutex_unlock(&m->lock);
}

void msix_table_write(struct msix *m, uint64_t offset, const void *data, uint32_t len)
{
	if (!table_access_ok(m, offset, len))
		return;
	unsigned vector = (unsigned)(offset / MSIX_ENTRY_SIZE);
	pthread_mutex_lock(&m->lock);
	for (uint32_t i = 0; i < len / 4; i++) {
		uint32_t v;
		memcpy(&v, (const uint8_t *)data + 4 * i, 4);
		uint64_t o = offset + 4 * i;
		set_entry_dword(&m->table[vector], (unsigned)(o % MSIX_ENTRY_SIZE) / 4, v);
	}
	refresh(m, vector, vector);
	pthread_mutex_unlock(&m->lock);
}

void msix_pba_read(struct msix *m, uint64_t offset, void *data, uint32_t len)
{
	memset(data, 0, len);
	if ((len != 4 && len != 8) || offset % len || offset + len > msix_pba_size(m->nr_vectors))
		return;
	pthread_mutex_lock(&m->lock);
	memcpy(data, (const uint8_t *)m->pending + offset, len); /* little-endian bit order */
	pthread_mutex_unlock(&m->lock);
}

void msix_config_written(struct msix *m, unsigned offset, unsigned len)
{
	if (offset + len <= m->cap + MSGCTL_OFFSET || offset >= m->cap + MSGCTL_OFFSET + 2)
		return;
	/* Read under our lock: two vCPUs writing it at once apply in the order they read. */
	pthread_mutex_lock(&m->lock);
	uint16_t msgctl = (uint16_t)pci_config_read(m->dev, m->cap + MSGCTL_OFFSET, 2);
	m->enabled = msgctl & MSGCTL_ENABLE;
	m->function_masked = msgctl & MSGCTL_FUNCTION_MASK;
	refresh(m, 0, m->nr_vectors - 1);
	pthread_mutex_unlock(&m->lock);
}

void msix_notify(struct msix *m, unsigned vector)
{
	if (vector >= m->nr_vectors)
		return;
	pthread_mutex_lock(&m->lock);
	if (usable(m, vector))
		m->sink.deliver(m->sink.ctx, vector);
	else if (m->enabled)
		set_pending(m, vector, true);
	pthread_mutex_unlock(&m->lock);
}

static unsigned pba_words(unsigned nr_vectors)
{
	return msix_pba_size(nr_vectors) / 8;
}

/*
 * Section STATE_TAG_MSIX, instance the PCI slot: u32 nr_vectors; per
 * vector u64 address, u32 data, u32 vector control; the PBA as
 * (nr_vectors + 63) / 64 u64 words; bool enabled, bool function_masked.
 */
void msix_save(struct msix *m, struct state_writer *w, uint32_t instance)
{
	state_begin(w, STATE_TAG_MSIX, instance);
	pthread_mutex_lock(&m->lock);
	state_put_u32(w, m->nr_vectors);
	for (unsigned v = 0; v < m->nr_vectors; v++) {
		state_put_u64(w, m->table[v].address);
		state_put_u32(w, m->table[v].data);
		state_put_u32(w, m->table[v].control);
	}
	for (unsigned i = 0; i < pba_words(m->nr_vectors); i++)
		state_put_u64(w, m->pending[i]);
	state_put_bool(w, m->enabled);
	state_put_bool(w, m->function_masked);
	pthread_mutex_unlock(&m->lock);
	state_end(w);
}

/* What a load reads before it changes anything. */
struct msix_saved {
	struct msix_entry *table;
	uint64_t *pending;
	bool enabled, function_masked;
};

/* Entries the guest could have written: address dword aligned, control bit 0 only. */
static int check_entry(const struct msix_entry *e, unsigned slot, unsigned v)
{
	if (e->address & 0x3) {
		log_error("snapshot: PCI slot %u: MSI-X vector %u address 0x%llx is not dword aligned",
			  slot, v, (unsigned long long)e->address);
		return -EINVAL;
	}
	if (e->control & ~ENTRY_CONTROL_MASKED) {
		log_error("snapshot: PCI slot %u: MSI-X vector %u control 0x%x has bits other than mask",
			  slot, v, e->control);
		return -EINVAL;
	}
	return 0;
}

static int read_table(const struct msix *m, struct state_section *s, struct msix_saved *saved)
{
	for (unsigned v = 0; v < m->nr_vectors; v++) {
		struct msix_entry *e = &saved->table[v];
		e->address = state_get_u64(s);
		e->data = state_get_u32(s);
		e->control = state_get_u32(s);
		if (check_entry(e, m->dev->slot, v) < 0)
			return -EINVAL;
	}
	return 0;
}

/* Bits past the last vector do not exist (§6.8.2.11: reserved, read as zero). */
static int read_pba(const struct msix *m, struct state_section *s, struct msix_saved *saved)
{
	unsigned words = pba_words(m->nr_vectors);
	for (unsigned i = 0; i < words; i++)
		saved->pending[i] = state_get_u64(s);
	unsigned used = m->nr_vectors % 64;
	if (used && saved->pending[words - 1] >> used) {
		log_error("snapshot: PCI slot %u: MSI-X pending bits set past vector %u", m->dev->slot,
			  m->nr_vectors - 1);
		return -EINVAL;
	}
	return 0;
}

/* The flags mirror the message control word pci_device_load restored. */
static int check_flags(struct msix *m, const struct msix_saved *saved)
{
	pthread_mutex_lock(&m->dev->lock);
	uint16_t msgctl = (uint16_t)pci_cfg_get(m->dev, m->cap + MSGCTL_OFFSET, 2);
	pthread_mutex_unlock(&m->dev->lock);
	if (saved->enabled != !!(msgctl & MSGCTL_ENABLE) ||
	    saved->function_masked != !!(msgctl & MSGCTL_FUNCTION_MASK)) {
		log_error("snapshot: PCI slot %u: MSI-X enable/function mask disagree with config "
			  "space (message control 0x%04x)", m->dev->slot, msgctl);
		return -EINVAL;
	}
	return 0;
}

static int read_section(struct msix *m, const struct state_reader *r, uint32_t instance,
			struct msix_saved *saved)
{
	struct state_section s;
	if (state_find(r, STATE_TAG_MSIX, instance, &s) < 0) {
		log_error("snapshot: PCI slot %u: no saved MSI-X state", m->dev->slot);
		return -EINVAL;
	}
	uint32_t nr_vectors = state_get_u32(&s);
	if (!s.overrun && nr_vectors != m->nr_vectors) {
		log_error("snapshot: PCI slot %u: MSI-X has %u vectors, the saved one %u", m->dev->slot,
			  m->nr_vectors, nr_vectors);
		return -EINVAL;
	}
	int ret = read_table(m, &s, saved);
	if (ret == 0)
		ret = read_pba(m, &s, saved);
	saved->enabled = state_get_bool(&s);
	saved->function_masked = state_get_bool(&s);
	if (ret == 0 && state_section_finish(&s) < 0) {
		log_error("snapshot: PCI slot %u: the saved MSI-X state is truncated or malformed",
			  m->dev->slot);
		ret = -EINVAL;
	}
	return ret;
}

/*
 * Call after pci_device_load of the same device. The sink hears about
 * every vector, and what is pending on a usable vector is delivered, as on
 * an unmask (§6.8.2.9).
 */
int msix_load(struct msix *m, const struct state_reader *r, uint32_t instance)
{
	struct msix_saved saved = {
		.table = calloc(m->nr_vectors, sizeof(*saved.table)),
		.pending = calloc(pba_words(m->nr_vectors), sizeof(uint64_t)),
	};
	int ret = saved.table && saved.pending ? 0 : -ENOMEM;
	if (ret == 0)
		ret = read_section(m, r, instance, &saved);
	if (ret == 0)
		ret = check_flags(m, &saved);
	if (ret == 0) {
		pthread_mutex_lock(&m->lock);
		memcpy(m->table, saved.table, m->nr_vectors * sizeof(*m->table));
		memcpy(m->pending, saved.pending, pba_words(m->nr_vectors) * sizeof(uint64_t));
		m->enabled = saved.enabled;
		m->function_masked = saved.function_masked;
		refresh(m, 0, m->nr_vectors - 1);
		pthread_mutex_unlock(&m->lock);
	}
	free(saved.table);
	free(saved.pending);
	return ret;
}
