/*
 * The emulated VT-d unit (vtd.h): the register page (VT-d 3.4 ch. 10),
 * DMA remapping through a context cache and an IOTLB in front of the walk
 * (vtd_translate.c), register-based and queued invalidation (§6.5),
 * primary fault logging and the fault event (§7.2.1, §7.3), and interrupt
 * remapping (§5.1, decoded by vtd_irq.c).
 *
 * Not offered: scalable mode (PASIDs, first-level and nested tables,
 * 256-bit descriptors), device-TLBs, posted interrupts, advanced fault
 * logging, protected memory regions, write-buffer flushing (RWBF = 0).
 * Page walks are coherent (ECAP.C): each reads the guest's tables as they
 * are now.
 *
 * The caches hold only what a walk found present, so CAP.CM (caching
 * mode) changes nothing but the capability the guest reads. There is no
 * interrupt entry cache: the routes vmon's interrupt code builds with
 * vtd_remap_msi are that cache, and hooks.interrupts_changed is its
 * invalidation.
 */
#include "iommu/vtd.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/vtd_irq.h"
#include "iommu/vtd_regs.h"
#include "iommu/vtd_translate.h"
#include "util/log.h"

/* Bits 12 to HAW - 1: the table and queue addresses the unit implements (§10.4.6). */
#define ADDRESS_BITS (((1ull << VTD_HOST_ADDRESS_WIDTH) - 1) & ~0xfffull)

/* An interrupt the unit sends itself: FECTL/FEDATA/FEADDR/FEUADDR or the IE* set, same layout. */
struct event_regs {
	uint32_t ctl, data, addr, uaddr;
};

struct pending_msi {
	bool send;
	uint64_t address;
	uint32_t data;
};

/* What a locked section leaves to do once the lock is dropped. */
struct vtd_events {
	struct pending_msi fault, completion;
	bool interrupts_changed;
};

struct vtd {
	const struct guest_mem *mem;
	struct vtd_hooks hooks;
	struct dma_translator translator;
	uint64_t cap, ecap;

	/*
	 * Protects every field below: the registers (vCPU threads), the
	 * caches and the fault records (device threads translating, any
	 * thread remapping an interrupt).
	 */
	pthread_mutex_t lock;
	uint32_t gsts;
	uint64_t rtaddr, ccmd, iotlb_reg, iva;
	uint64_t root_table;    /* latched by SRTP */
	bool root_table_legacy; /* the latched TTM is 00b: anything else faults with 30h */
	uint32_t fsts;          /* PFO, IQE, ICE, ITE; PPF and FRI are computed on reads */
	unsigned first_fault;   /* FSTS.FRI: the record the first pending fault went to */
	unsigned next_fault;    /* the internal fault recording index of §7.2.1 */
	struct { uint64_t lo, hi; } faults[VTD_FAULT_RECORDS];
	struct event_regs fault_event, completion_event;
	uint32_t pmen, ics;
	uint64_t iqh, iqt, iqa, iqercd, irta;
	uint64_t queue_base;    /* latched from IQA when QIE is set */
	uint32_t queue_entries;
	struct vtd_irq_table irq_table; /* latched by SIRTP */
	struct vtd_context_cache contexts;
	struct vtd_iotlb iotlb;
};

static struct log_limit bad_status_write_limit = LOG_LIMIT_INIT(5);
static struct log_limit fault_log_limit = LOG_LIMIT_INIT(20);

static uint64_t merge(uint64_t old, uint64_t value, uint64_t mask)
{
	return (old & ~mask) | (value & mask);
}

/* ---- events ---- */

static void deliver(struct vtd *vtd, const struct vtd_events *ev)
{
	const struct vtd_hooks *h = &vtd->hooks;
	if (ev->fault.send && h->signal_msi)
		h->signal_msi(h->ctx, ev->fault.address, ev->fault.data);
	if (ev->completion.send && h->signal_msi)
		h->signal_msi(h->ctx, ev->completion.address, ev->completion.data);
	if (ev->interrupts_changed && h->interrupts_changed)
		h->interrupts_changed(h->ctx);
}

/* §10.4.10, §10.4.25: a new interrupt condition; with IM set, IP holds it until unmasked. */
static void raise_event(struct event_regs *r, struct pending_msi *msi)
{
	if (r->ctl & VTD_CTL_IM) {
		r->ctl |= VTD_CTL_IP;
		return;
	}
	r->ctl &= ~VTD_CTL_IP;
	*msi = (struct pending_msi){ true, (uint64_t)r->uaddr << 32 | r->addr, r->data };
}

/* Clearing IM with IP set sends the held message. */
static void write_event_ctl(struct event_regs *r, uint32_t value, struct pending_msi *msi)
{
	bool held = r->ctl & VTD_CTL_IP;
	r->ctl = (value & VTD_CTL_IM) | (held ? VTD_CTL_IP : 0);
	if (held && !(value & VTD_CTL_IM))
		raise_event(r, msi);
}

/* ---- fault status and primary fault logging ---- */

static bool any_fault_recorded(const struct vtd *vtd) /* FSTS.PPF */
{
	for (unsigned i = 0; i < VTD_FAULT_RECORDS; i++)
		if (vtd->faults[i].hi & VTD_FRCD_F)
			return true;
	return false;
}

static bool fault_status_pending(const struct vtd *vtd)
{
	return vtd->fsts || any_fault_recorded(vtd);
}

static uint32_t read_fsts(const struct vtd *vtd)
{
	return vtd->fsts | (any_fault_recorded(vtd) ? VTD_FSTS_PPF : 0) |
	       VTD_FSTS_FRI(vtd->first_fault);
}

/* §10.4.10: IP clears once software has serviced every status field. */
static void fault_status_serviced(struct vtd *vtd)
{
	if (!fault_status_pending(vtd))
		vtd->fault_event.ctl &= ~VTD_CTL_IP;
}

/* §7.3: setting a status field is an interrupt condition only when none was pending. */
static void set_fault_status(struct vtd *vtd, uint32_t bits, struct vtd_events *ev)
{
	bool was_pending = fault_status_pending(vtd);
	vtd->fsts |= bits;
	if (!was_pending)
		raise_event(&vtd->fault_event, &ev->fault);
}

/*
 * §7.2.1: into the record at the internal index unless PFO is set or that
 * record is still pending (then PFO, and the fault is dropped). `info` is
 * the page address (DMA) or the interrupt index in bits 63:48.
 */
static void record_fault(struct vtd *vtd, uint16_t source_id, uint64_t info,
			 enum vtd_fault_reason reason, bool read, struct vtd_events *ev)
{
	if (vtd->fsts & VTD_FSTS_PFO)
		return;
	if (vtd->faults[vtd->next_fault].hi & VTD_FRCD_F) {
		vtd->fsts |= VTD_FSTS_PFO; /* PPF is set: not a new interrupt condition */
		return;
	}
	if (log_limit_allow(&fault_log_limit))
		log_debug("vtd: fault %02xh from %02x:%02x.%u, info 0x%llx", reason, source_id >> 8,
			  (source_id >> 3) & 31, source_id & 7, (unsigned long long)info);
	bool was_pending = fault_status_pending(vtd);
	if (!any_fault_recorded(vtd))
		vtd->first_fault = vtd->next_fault;
	vtd->faults[vtd->next_fault].lo = info;
	vtd->faults[vtd->next_fault].hi = VTD_FRCD_SID(source_id) | VTD_FRCD_FR(reason) |
					  (read ? VTD_FRCD_T1_READ : 0) | VTD_FRCD_F;
	vtd->next_fault = (vtd->next_fault + 1) % VTD_FAULT_RECORDS;
	if (!was_pending)
		raise_event(&vtd->fault_event, &ev->fault);
}

/* ---- DMA remapping ---- */

/* The context of `source_id`, from the context cache or from the tables (then cached). */
static int find_context(struct vtd *vtd, uint16_t source_id, struct vtd_context *ctx,
			struct vtd_fault *fault)
{
	if (!vtd->root_table_legacy) {
		*fault = (struct vtd_fault){ .reason = VTD_FAULT_ROOT_TABLE_MODE };
		return -EFAULT;
	}
	if (vtd_context_cache_lookup(&vtd->contexts, source_id, ctx))
		return 0;
	if (vtd_find_context(vtd->mem, vtd->root_table, source_id, ctx, fault))
		return -EFAULT;
	vtd_context_cache_insert(&vtd->contexts, source_id, ctx);
	return 0;
}

/*
 * From the IOTLB when it holds the page with the right, else from a walk
 * of the tables as they are now (then cached).
 */
static int translate_in_context(struct vtd *vtd, const struct vtd_context *ctx, uint64_t iova,
				bool write, struct vtd_translation *tr, struct vtd_fault *fault)
{
	if (!ctx->pass_through && vtd_iotlb_lookup(&vtd->iotlb, ctx->domain_id, iova, tr) == 0 &&
	    (write ? tr->writable : tr->readable))
		return 0;
	if (vtd_translate_in_context(vtd->mem, ctx, iova, write, tr, fault))
		return -EFAULT;
	if (!tr->pass_through)
		vtd_iotlb_insert(&vtd->iotlb, ctx->domain_id, iova, tr);
	return 0;
}

static int translate_locked(struct vtd *vtd, uint16_t source_id, uint64_t iova, bool write,
			    uint64_t *gpa, uint64_t *span, struct vtd_events *ev)
{
	if (!(vtd->gsts & VTD_GSTS_TES)) {
		*gpa = iova; /* translation off: the rest of the address space, identity */
		*span = iova ? 0 - iova : UINT64_MAX;
		return 0;
	}
	struct vtd_context ctx;
	struct vtd_fault fault;
	struct vtd_translation tr;
	if (find_context(vtd, source_id, &ctx, &fault) == 0 &&
	    translate_in_context(vtd, &ctx, iova, write, &tr, &fault) == 0) {
		*gpa = tr.gpa;
		*span = tr.page_size - (iova & (tr.page_size - 1));
		return 0;
	}
	if (!fault.fpd)
		record_fault(vtd, source_id, iova & ~0xfffull, fault.reason, !write, ev);
	return -EFAULT;
}

static int vtd_dma_translate(void *opaque, uint16_t source_id, uint64_t iova, bool write,
			     uint64_t *gpa, uint64_t *span)
{
	struct vtd *vtd = opaque;
	struct vtd_events ev = { 0 };
	pthread_mutex_lock(&vtd->lock);
	int ret = translate_locked(vtd, source_id, iova, write, gpa, span, &ev);
	pthread_mutex_unlock(&vtd->lock);
	deliver(vtd, &ev);
	return ret;
}

const struct dma_translator *vtd_dma_translator(struct vtd *vtd)
{
	return &vtd->translator;
}

/* ---- interrupt remapping ---- */

int vtd_remap_msi(struct vtd *vtd, uint16_t source_id, uint64_t *address, uint32_t *data,
		  bool record)
{
	struct vtd_events ev = { 0 };
	int ret = 0;
	pthread_mutex_lock(&vtd->lock);
	if (vtd->gsts & VTD_GSTS_IRES) {
		struct vtd_irq_fault fault;
		ret = vtd_irq_remap(vtd->mem, &vtd->irq_table, vtd->gsts & VTD_GSTS_CFIS, source_id,
				    address, data, &fault);
		if (ret && record && !fault.fpd) /* §10.4.14: the interrupt index in FI bits 63:48 */
			record_fault(vtd, source_id, VTD_FRCD_IR_INDEX(fault.index), fault.reason,
				     false, &ev);
	}
	pthread_mutex_unlock(&vtd->lock);
	deliver(vtd, &ev);
	return ret;
}

/* ---- queued invalidation (§6.5.2) ---- */

struct descriptor {
	uint64_t lo, hi;
};

static enum vtd_iqe_info run_context_desc(struct vtd *vtd, const struct descriptor *d)
{
	if ((d->lo & VTD_DESC_CC_RESERVED_LO) || d->hi || VTD_DESC_G(d->lo) == VTD_GRAN_NONE)
		return VTD_IQEI_RESERVED;
	vtd_context_cache_invalidate(&vtd->contexts, VTD_DESC_G(d->lo), VTD_DESC_DID(d->lo),
				     VTD_DESC_CC_SID(d->lo), VTD_DESC_CC_FM(d->lo));
	return 0;
}

static enum vtd_iqe_info run_iotlb_desc(struct vtd *vtd, const struct descriptor *d)
{
	if ((d->lo & VTD_DESC_IOTLB_RESERVED_LO) || (d->hi & VTD_DESC_IOTLB_RESERVED_HI) ||
	    VTD_DESC_G(d->lo) == VTD_GRAN_NONE)
		return VTD_IQEI_RESERVED;
	vtd_iotlb_invalidate(&vtd->iotlb, VTD_DESC_G(d->lo), VTD_DESC_DID(d->lo),
			     VTD_IVA_ADDR(d->hi), VTD_IVA_AM(d->hi), VTD_MAMV);
	return 0;
}

/* §6.5.2.7: global or by index, nothing is cached here: every route is to be re-translated. */
static enum vtd_iqe_info run_iec_desc(const struct descriptor *d, struct vtd_events *ev)
{
	if ((d->lo & VTD_DESC_IEC_RESERVED_LO) || d->hi)
		return VTD_IQEI_RESERVED;
	ev->interrupts_changed = true;
	return 0;
}

/* §6.5.2.9: IWC set; a new interrupt condition only when it was clear. */
static void complete_wait(struct vtd *vtd, struct vtd_events *ev)
{
	if (vtd->ics & VTD_ICS_IWC)
		return;
	vtd->ics |= VTD_ICS_IWC;
	raise_event(&vtd->completion_event, &ev->completion);
}

/* §6.5.2.8: descriptors run in order and at once, so FN (fence) asks for nothing more. */
static enum vtd_iqe_info run_wait_desc(struct vtd *vtd, const struct descriptor *d,
				       struct vtd_events *ev)
{
	if ((d->lo & VTD_DESC_WAIT_RESERVED_LO) || (d->hi & VTD_DESC_WAIT_RESERVED_HI))
		return VTD_IQEI_RESERVED;
	if (d->lo & VTD_DESC_WAIT_SW) {
		uint32_t status = htole32(VTD_DESC_WAIT_DATA(d->lo));
		if (guest_mem_write(vtd->mem, d->hi, &status, sizeof(status)) &&
		    log_limit_allow(&bad_status_write_limit))
			log_warn("vtd: invalidation wait status address 0x%llx is not RAM, not written",
				 (unsigned long long)d->hi);
	}
	if (d->lo & VTD_DESC_WAIT_IF)
		complete_wait(vtd, ev);
	return 0;
}

static enum vtd_iqe_info run_descriptor(struct vtd *vtd, const struct descriptor *d,
					struct vtd_events *ev)
{
	switch (VTD_DESC_TYPE(d->lo)) {
	case VTD_DESC_CONTEXT:
		return run_context_desc(vtd, d);
	case VTD_DESC_IOTLB:
		return run_iotlb_desc(vtd, d);
	case VTD_DESC_IEC:
		return run_iec_desc(d, ev);
	case VTD_DESC_WAIT:
		return run_wait_desc(vtd, d, ev);
	default:
		return VTD_IQEI_TYPE; /* device-TLB needs ECAP.DT, the PASID types scalable mode */
	}
}

/* §6.5.2.10: IQE set, IQH left at the descriptor at fault, fetching stops until IQE is cleared. */
static void queue_error(struct vtd *vtd, enum vtd_iqe_info info, struct vtd_events *ev)
{
	vtd->iqercd = info;
	set_fault_status(vtd, VTD_FSTS_IQE, ev);
}

static bool queue_running(const struct vtd *vtd)
{
	return (vtd->gsts & VTD_GSTS_QIES) && !(vtd->fsts & VTD_FSTS_IQE);
}

/* Runs the descriptors from IQH up to IQT; IQH moves past each one that ran. */
static void process_queue(struct vtd *vtd, struct vtd_events *ev)
{
	if (!queue_running(vtd))
		return;
	uint32_t head = VTD_IQ_INDEX(vtd->iqh), tail = VTD_IQ_INDEX(vtd->iqt);
	if (tail >= vtd->queue_entries) {
		queue_error(vtd, VTD_IQEI_TAIL, ev);
		return;
	}
	while (head != tail) {
		struct descriptor d;
		enum vtd_iqe_info err = VTD_IQEI_FETCH;
		if (guest_mem_read(vtd->mem, vtd->queue_base + (uint64_t)head * sizeof(d), &d,
				   sizeof(d)) == 0) {
			d.lo = le64toh(d.lo);
			d.hi = le64toh(d.hi);
			err = run_descriptor(vtd, &d, ev);
		}
		if (err) {
			queue_error(vtd, err, ev);
			return;
		}
		head = (head + 1) % vtd->queue_entries;
		vtd->iqh = (uint64_t)head << 4;
	}
}

static void write_iqt(struct vtd *vtd, uint32_t value, struct vtd_events *ev)
{
	vtd->iqt = value & VTD_IQ_OFFSET_BITS;
	if (value & 0xf) { /* not a 128-bit descriptor boundary */
		if (queue_running(vtd))
			queue_error(vtd, VTD_IQEI_TAIL, ev);
		return;
	}
	process_queue(vtd, ev);
}

/* §10.4.21: IQH is 0 whenever QIES is clear; the queue is latched from IQA when it is set. */
static void set_queued_invalidation(struct vtd *vtd, bool on, struct vtd_events *ev)
{
	vtd->iqh = 0;
	if (!on) {
		vtd->gsts &= ~VTD_GSTS_QIES;
		return;
	}
	vtd->queue_base = vtd->iqa & ADDRESS_BITS;
	vtd->queue_entries = 1u << (VTD_IQA_QS(vtd->iqa) + 8);
	vtd->gsts |= VTD_GSTS_QIES;
	process_queue(vtd, ev);
}

/* ---- command and invalidation registers ---- */

/*
 * §10.4.4: TE, QIE, IRE and CFI are states, SRTP and SIRTP one-shots;
 * WBF, SFL and EAFL are not offered and ignored.
 */
static void write_gcmd(struct vtd *vtd, uint32_t cmd, struct vtd_events *ev)
{
	uint32_t changed = cmd ^ vtd->gsts;
	if (cmd & VTD_GCMD_SRTP) {
		vtd->root_table = vtd->rtaddr & ADDRESS_BITS;
		vtd->root_table_legacy = VTD_RTADDR_TTM(vtd->rtaddr) == 0;
		vtd->gsts |= VTD_GSTS_RTPS;
	}
	if (changed & VTD_GCMD_TE)
		vtd->gsts ^= VTD_GSTS_TES;
	if (changed & VTD_GCMD_QIE)
		set_queued_invalidation(vtd, cmd & VTD_GCMD_QIE, ev);
	if (!(vtd->ecap & VTD_ECAP_IR))
		return;
	if (cmd & VTD_GCMD_SIRTP) {
		vtd->irq_table = (struct vtd_irq_table){
			.base = vtd->irta & ADDRESS_BITS,
			.entries = 2u << VTD_IRTA_S(vtd->irta),
			.x2apic = vtd->irta & VTD_IRTA_EIME,
		};
		vtd->gsts |= VTD_GSTS_IRTPS;
		ev->interrupts_changed = true;
	}
	if (changed & (VTD_GCMD_IRE | VTD_GCMD_CFI)) {
		vtd->gsts ^= changed & (VTD_GSTS_IRES | VTD_GSTS_CFIS);
		ev->interrupts_changed = true;
	}
}

/* §10.4.7: a write of the upper half with ICC set runs it; ignored while QIE is on (§6.5.2). */
static void write_ccmd(struct vtd *vtd, uint64_t value, uint64_t mask)
{
	if (vtd->gsts & VTD_GSTS_QIES)
		return;
	uint64_t v = merge(vtd->ccmd, value, mask);
	if ((mask >> 32) && (v & VTD_CCMD_ICC)) {
		unsigned done = vtd_context_cache_invalidate(&vtd->contexts, VTD_CCMD_CIRG(v),
							     VTD_CCMD_DID(v), VTD_CCMD_SID(v),
							     VTD_CCMD_FM(v));
		v = (v & ~(VTD_CCMD_ICC | VTD_CCMD_CAIG(3))) | VTD_CCMD_CAIG(done);
	}
	vtd->ccmd = v;
}

/* §10.4.8.1: the same for IOTLB_REG with IVT, the page from IVA_REG. */
static void write_iotlb(struct vtd *vtd, uint64_t value, uint64_t mask)
{
	if (vtd->gsts & VTD_GSTS_QIES)
		return;
	uint64_t v = merge(vtd->iotlb_reg, value, mask);
	if ((mask >> 32) && (v & VTD_IOTLB_IVT)) {
		unsigned done = vtd_iotlb_invalidate(&vtd->iotlb, VTD_IOTLB_IIRG(v),
						     VTD_IOTLB_DID(v), VTD_IVA_ADDR(vtd->iva),
						     VTD_IVA_AM(vtd->iva), VTD_MAMV);
		v = (v & ~(VTD_IOTLB_IVT | VTD_IOTLB_IAIG(3))) | VTD_IOTLB_IAIG(done);
	}
	vtd->iotlb_reg = v;
}

/* ---- status registers ---- */

/* §10.4.9: PFO, IQE, ICE and ITE are RW1C; clearing IQE resumes fetching at IQH. */
static void write_fsts(struct vtd *vtd, uint32_t value, struct vtd_events *ev)
{
	bool queue_stopped = vtd->fsts & VTD_FSTS_IQE;
	vtd->fsts &= ~(value & (VTD_FSTS_PFO | VTD_FSTS_IQE | VTD_FSTS_ICE | VTD_FSTS_ITE));
	fault_status_serviced(vtd);
	if (queue_stopped && !(vtd->fsts & VTD_FSTS_IQE))
		process_queue(vtd, ev);
}

/* §10.4.14: F (bit 127) is RW1C, the rest read-only. */
static void write_fault_record_top(struct vtd *vtd, unsigned index, uint32_t value)
{
	if (value & (uint32_t)(VTD_FRCD_F >> 32)) {
		vtd->faults[index].hi &= ~VTD_FRCD_F;
		fault_status_serviced(vtd);
	}
}

/* §10.4.24: IWC is RW1C; clearing it services a held completion interrupt. */
static void write_ics(struct vtd *vtd, uint32_t value)
{
	if (value & VTD_ICS_IWC) {
		vtd->ics &= ~VTD_ICS_IWC;
		vtd->completion_event.ctl &= ~VTD_CTL_IP;
	}
}

/* ---- the register page, in 8-byte slots (§10.2: 64-bit ones may be accessed in halves) ---- */

static uint64_t read_event_regs(const struct event_regs *r, bool addresses)
{
	return addresses ? r->addr | (uint64_t)r->uaddr << 32 : r->ctl | (uint64_t)r->data << 32;
}

static void write_event_regs(struct event_regs *r, bool addresses, uint64_t value, uint64_t mask,
			     struct pending_msi *msi)
{
	if (addresses) {
		if ((uint32_t)mask)
			r->addr = (uint32_t)value & ~3u;
		if (mask >> 32)
			r->uaddr = (uint32_t)(value >> 32);
		return;
	}
	if (mask >> 32)
		r->data = (uint32_t)(value >> 32) & 0xffff; /* 16-bit message data */
	if ((uint32_t)mask)
		write_event_ctl(r, (uint32_t)value, msi);
}

static bool is_fault_record(unsigned slot)
{
	return slot >= VTD_FRCD && slot < VTD_FRCD + VTD_FAULT_RECORDS * 16;
}

static uint64_t read_slot(struct vtd *vtd, unsigned slot)
{
	if (is_fault_record(slot)) {
		unsigned i = (slot - VTD_FRCD) / 16;
		return slot % 16 ? vtd->faults[i].hi : vtd->faults[i].lo;
	}
	switch (slot) {
	case VTD_VER: return VTD_VER_1_0;
	case VTD_CAP: return vtd->cap;
	case VTD_ECAP: return vtd->ecap;
	case VTD_GCMD: return (uint64_t)vtd->gsts << 32; /* GCMD reads as 0, GSTS above it */
	case VTD_RTADDR: return vtd->rtaddr;
	case VTD_CCMD: return vtd->ccmd;
	case VTD_FSTS - 4: return (uint64_t)read_fsts(vtd) << 32;
	case VTD_FECTL: return read_event_regs(&vtd->fault_event, false);
	case VTD_FEADDR: return read_event_regs(&vtd->fault_event, true);
	case VTD_PMEN - 4: return (uint64_t)vtd->pmen << 32;
	case VTD_IQH: return vtd->iqh;
	case VTD_IQT: return vtd->iqt;
	case VTD_IQA: return vtd->iqa;
	case VTD_ICS - 4: return (uint64_t)vtd->ics << 32;
	case VTD_IECTL: return read_event_regs(&vtd->completion_event, false);
	case VTD_IEADDR: return read_event_regs(&vtd->completion_event, true);
	case VTD_IQERCD: return vtd->iqercd;
	case VTD_IRTA: return vtd->irta;
	case VTD_IOTLB: return vtd->iotlb_reg;
	default: return 0; /* reserved, write-only (IVA) or not offered */
	}
}

/* `mask` has the bytes written: the low half, the high half or both. */
static void write_slot(struct vtd *vtd, unsigned slot, uint64_t value, uint64_t mask,
		       struct vtd_events *ev)
{
	uint32_t lo = (uint32_t)value, hi = (uint32_t)(value >> 32);
	bool low_written = (uint32_t)mask, high_written = mask >> 32;
	if (is_fault_record(slot)) {
		if (slot % 16 && high_written)
			write_fault_record_top(vtd, (slot - VTD_FRCD) / 16, hi);
		return;
	}
	switch (slot) {
	case VTD_GCMD:
		if (low_written)
			write_gcmd(vtd, lo, ev);
		break;
	case VTD_RTADDR: /* RTA and TTM */
		vtd->rtaddr = merge(vtd->rtaddr, value, mask) & (ADDRESS_BITS | 0xc00);
		break;
	case VTD_CCMD:
		write_ccmd(vtd, value, mask);
		break;
	case VTD_FSTS - 4:
		if (high_written)
			write_fsts(vtd, hi, ev);
		break;
	case VTD_FECTL:
	case VTD_FEADDR:
		write_event_regs(&vtd->fault_event, slot == VTD_FEADDR, value, mask, &ev->fault);
		break;
	case VTD_PMEN - 4: /* EPM is kept; PRS stays 0: no protected regions (CAP.PLMR = PHMR = 0) */
		if (high_written)
			vtd->pmen = hi & VTD_PMEN_EPM;
		break;
	case VTD_IQT:
		if (low_written)
			write_iqt(vtd, lo, ev);
		break;
	case VTD_IQA: /* IQA and QS; DW and bits 10:3 are reserved (128-bit descriptors only) */
		vtd->iqa = merge(vtd->iqa, value, mask) & (ADDRESS_BITS | 7);
		break;
	case VTD_ICS - 4:
		if (high_written)
			write_ics(vtd, hi);
		break;
	case VTD_IECTL:
	case VTD_IEADDR:
		write_event_regs(&vtd->completion_event, slot == VTD_IEADDR, value, mask,
				 &ev->completion);
		break;
	case VTD_IRTA:
		vtd->irta = merge(vtd->irta, value, mask) &
			    (ADDRESS_BITS | 0xf | (vtd->ecap & VTD_ECAP_EIM ? VTD_IRTA_EIME : 0));
		break;
	case VTD_IVA: /* ADDR, IH and AM */
		vtd->iva = merge(vtd->iva, value, mask) & ~0xf80ull;
		break;
	case VTD_IOTLB:
		write_iotlb(vtd, value, mask);
		break;
	default:
		break; /* read-only, reserved or not offered */
	}
}

/* §10.2: aligned 4- and 8-byte accesses only; anything else reads 0 and writes nothing. */
static bool is_register_access(uint64_t offset, uint32_t len)
{
	return (len == 4 || len == 8) && offset % len == 0 && offset < VTD_REG_PAGE_SIZE;
}

static void vtd_bus_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	struct vtd *vtd = dev;
	uint8_t *out = data;
	uint64_t value = 0;
	if (is_register_access(offset, len)) {
		pthread_mutex_lock(&vtd->lock);
		value = read_slot(vtd, (unsigned)offset & ~7u) >> (offset % 8 * 8);
		pthread_mutex_unlock(&vtd->lock);
	}
	for (uint32_t i = 0; i < len; i++)
		out[i] = (uint8_t)(value >> (8 * i));
}

static void vtd_bus_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct vtd *vtd = dev;
	const uint8_t *in = data;
	struct vtd_events ev = { 0 };
	if (!is_register_access(offset, len))
		return;
	uint64_t value = 0, mask = len == 8 ? UINT64_MAX : 0xffffffffull;
	for (uint32_t i = 0; i < len; i++)
		value |= (uint64_t)in[i] << (8 * i);
	unsigned shift = offset % 8 * 8;
	pthread_mutex_lock(&vtd->lock);
	write_slot(vtd, (unsigned)offset & ~7u, value << shift, mask << shift, &ev);
	pthread_mutex_unlock(&vtd->lock);
	deliver(vtd, &ev);
}

const struct bus_ops vtd_bus_ops = {
	.read = vtd_bus_read,
	.write = vtd_bus_write,
};

/* ---- life cycle ---- */

/*
 * No DRD/DWD: vmon's devices translate a request's buffers when they take
 * it, and a request in flight finishes with them, so an invalidation wait
 * cannot promise that earlier reads and writes have drained. Linux unmaps
 * a buffer only once its request completed, so this costs it nothing.
 */
static uint64_t capabilities(const struct vtd_config *cfg)
{
	return VTD_CAP_ND_256 | (cfg->caching_mode ? VTD_CAP_CM : 0) | VTD_CAP_SAGAW_39 |
	       VTD_CAP_SAGAW_48 | VTD_CAP_MGAW(VTD_HOST_ADDRESS_WIDTH) | VTD_CAP_FRO(VTD_FRCD) |
	       VTD_CAP_SLLPS_2M | VTD_CAP_SLLPS_1G | VTD_CAP_PSI |
	       VTD_CAP_NFR(VTD_FAULT_RECORDS) | VTD_CAP_MAMV(VTD_MAMV);
}

static uint64_t extended_capabilities(const struct vtd_config *cfg)
{
	return VTD_ECAP_C | VTD_ECAP_QI | (cfg->intremap ? VTD_ECAP_IR | VTD_ECAP_EIM : 0) |
	       VTD_ECAP_PT | VTD_ECAP_IRO(VTD_IVA) | VTD_ECAP_MHMV(0xf);
}

int vtd_create(struct vtd **out, const struct guest_mem *mem, const struct vtd_config *cfg,
	       const struct vtd_hooks *hooks)
{
	*out = NULL;
	if (!mem || !cfg)
		return -EINVAL;
	struct vtd *vtd = calloc(1, sizeof(*vtd));
	if (!vtd)
		return -ENOMEM;
	vtd->mem = mem;
	if (hooks)
		vtd->hooks = *hooks;
	vtd->translator = (struct dma_translator){ .translate = vtd_dma_translate, .ctx = vtd };
	vtd->cap = capabilities(cfg);
	vtd->ecap = extended_capabilities(cfg);
	vtd->root_table_legacy = true;
	vtd->fault_event.ctl = VTD_CTL_IM; /* §10.4.10, §10.4.25: both interrupts masked at reset */
	vtd->completion_event.ctl = VTD_CTL_IM;
	pthread_mutex_init(&vtd->lock, NULL);
	*out = vtd;
	return 0;
}

void vtd_destroy(struct vtd *vtd)
{
	if (!vtd)
		return;
	pthread_mutex_destroy(&vtd->lock);
	free(vtd);
}
