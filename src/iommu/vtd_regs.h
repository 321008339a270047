/*
 * The VT-d register page (VT-d 3.4 ch. 10, offsets in §10.4), the fields
 * vmon's unit implements, and the invalidation descriptors (§6.5.2).
 * Shared by the unit (vtd.c) and its tests.
 */
#ifndef VMON_IOMMU_VTD_REGS_H
#define VMON_IOMMU_VTD_REGS_H

#define VTD_REG_PAGE_SIZE 0x1000

/* Register offsets (§10.4); the IOTLB and fault-recording blocks where ECAP.IRO, CAP.FRO say. */
#define VTD_VER         0x000 /* 32 */
#define VTD_CAP         0x008 /* 64 */
#define VTD_ECAP        0x010 /* 64 */
#define VTD_GCMD        0x018 /* 32 */
#define VTD_GSTS        0x01c /* 32 */
#define VTD_RTADDR      0x020 /* 64 */
#define VTD_CCMD        0x028 /* 64 */
#define VTD_FSTS        0x034 /* 32 */
#define VTD_FECTL       0x038 /* 32 */
#define VTD_FEDATA      0x03c /* 32 */
#define VTD_FEADDR      0x040 /* 32 */
#define VTD_FEUADDR     0x044 /* 32 */
#define VTD_PMEN        0x064 /* 32 */
#define VTD_IQH         0x080 /* 64 */
#define VTD_IQT         0x088 /* 64 */
#define VTD_IQA         0x090 /* 64 */
#define VTD_ICS         0x09c /* 32 */
#define VTD_IECTL       0x0a0 /* 32 */
#define VTD_IEDATA      0x0a4 /* 32 */
#define VTD_IEADDR      0x0a8 /* 32 */
#define VTD_IEUADDR     0x0ac /* 32 */
#define VTD_IQERCD      0x0b0 /* 64 */
#define VTD_IRTA        0x0b8 /* 64 */
#define VTD_IVA         0x500 /* 64, ECAP.IRO * 16 */
#define VTD_IOTLB       0x508 /* 64 */
#define VTD_FRCD        0x600 /* 128 each, CAP.FRO * 16 */
#define VTD_FAULT_RECORDS 8

#define VTD_VER_1_0 0x10

/* §10.4.2 CAP_REG */
#define VTD_CAP_ND_256       2ull          /* 2^(4 + 2 * ND) domain ids */
#define VTD_CAP_CM           (1ull << 7)
#define VTD_CAP_SAGAW_39     (1ull << 9)   /* 3-level tables */
#define VTD_CAP_SAGAW_48     (1ull << 10)  /* 4-level tables */
#define VTD_CAP_MGAW(w)      ((unsigned long long)((w) - 1) << 16)
#define VTD_CAP_FRO(off)     ((unsigned long long)((off) / 16) << 24)
#define VTD_CAP_SLLPS_2M     (1ull << 34)
#define VTD_CAP_SLLPS_1G     (1ull << 35)
#define VTD_CAP_PSI          (1ull << 39)
#define VTD_CAP_NFR(n)       ((unsigned long long)((n) - 1) << 40)
#define VTD_CAP_MAMV(m)      ((unsigned long long)(m) << 48)
#define VTD_MAMV             18            /* page-selective invalidation of up to 2^18 pages */

/* §10.4.3 ECAP_REG */
#define VTD_ECAP_C           (1ull << 0)
#define VTD_ECAP_QI          (1ull << 1)
#define VTD_ECAP_IR          (1ull << 3)
#define VTD_ECAP_EIM         (1ull << 4)
#define VTD_ECAP_PT          (1ull << 6)
#define VTD_ECAP_IRO(off)    ((unsigned long long)((off) / 16) << 8)
#define VTD_ECAP_MHMV(m)     ((unsigned long long)(m) << 20)

/* §10.4.4 GCMD_REG and §10.4.5 GSTS_REG: the same bit positions. */
#define VTD_GCMD_CFI         (1u << 23)
#define VTD_GCMD_SIRTP       (1u << 24)
#define VTD_GCMD_IRE         (1u << 25)
#define VTD_GCMD_QIE         (1u << 26)
#define VTD_GCMD_SRTP        (1u << 30)
#define VTD_GCMD_TE          (1u << 31)
#define VTD_GSTS_CFIS        VTD_GCMD_CFI
#define VTD_GSTS_IRTPS       VTD_GCMD_SIRTP
#define VTD_GSTS_IRES        VTD_GCMD_IRE
#define VTD_GSTS_QIES        VTD_GCMD_QIE
#define VTD_GSTS_RTPS        VTD_GCMD_SRTP
#define VTD_GSTS_TES         VTD_GCMD_TE

/* §10.4.6 RTADDR_REG */
#define VTD_RTADDR_TTM(v)    (((v) >> 10) & 3) /* 00b: legacy mode, the only one offered */

/* §10.4.7 CCMD_REG */
#define VTD_CCMD_DID(v)      ((uint16_t)(v))
#define VTD_CCMD_SID(v)      ((uint16_t)((v) >> 16))
#define VTD_CCMD_FM(v)       ((unsigned)((v) >> 32) & 3)
#define VTD_CCMD_CAIG(g)     ((uint64_t)(g) << 59)
#define VTD_CCMD_CIRG(v)     ((unsigned)((v) >> 61) & 3)
#define VTD_CCMD_ICC         (1ull << 63)

/* §10.4.8.1 IOTLB_REG and §10.4.8.2 IVA_REG */
#define VTD_IOTLB_DID(v)     ((uint16_t)((v) >> 32))
#define VTD_IOTLB_IAIG(g)    ((uint64_t)(g) << 57)
#define VTD_IOTLB_IIRG(v)    ((unsigned)((v) >> 60) & 3)
#define VTD_IOTLB_IVT        (1ull << 63)
#define VTD_IVA_AM(v)        ((unsigned)(v) & 0x3f)
#define VTD_IVA_ADDR(v)      ((v) & ~0xfffull)

/* §10.4.9 FSTS_REG */
#define VTD_FSTS_PFO         (1u << 0)
#define VTD_FSTS_PPF         (1u << 1)
#define VTD_FSTS_IQE         (1u << 4)
#define VTD_FSTS_ICE         (1u << 5)
#define VTD_FSTS_ITE         (1u << 6)
#define VTD_FSTS_FRI(i)      ((uint32_t)(i) << 8)

/* §10.4.10 FECTL_REG and §10.4.25 IECTL_REG */
#define VTD_CTL_IP           (1u << 30)
#define VTD_CTL_IM           (1u << 31)

/* §10.4.14 FRCD_REG, upper 64 bits */
#define VTD_FRCD_SID(s)      ((uint64_t)(s))
#define VTD_FRCD_FR(r)       ((uint64_t)(r) << 32)
#define VTD_FRCD_T1_READ     (1ull << 62) /* T2:T1 = 00b write, 01b read */
#define VTD_FRCD_F           (1ull << 63)
#define VTD_FRCD_IR_INDEX(i) ((uint64_t)(i) << 48) /* lower 64 bits, interrupt faults */

/* §10.4.16 PMEN_REG */
#define VTD_PMEN_EPM         (1u << 31)

/* §10.4.21-23 IQH_REG, IQT_REG, IQA_REG (128-bit descriptors) */
#define VTD_IQ_INDEX(v)      ((uint32_t)((v) >> 4) & 0x7fff)
#define VTD_IQ_OFFSET_BITS   0x7fff0ull
#define VTD_IQA_QS(v)        ((unsigned)(v) & 7)   /* 2^QS pages, 2^(QS + 8) descriptors */

/* §10.4.24 ICS_REG */
#define VTD_ICS_IWC          (1u << 0)

/* §10.4.29 IQERCD_REG.IQEI */
enum vtd_iqe_info {
	VTD_IQEI_TAIL = 1,       /* IQT beyond the queue or not aligned */
	VTD_IQEI_FETCH = 2,      /* a descriptor outside guest RAM */
	VTD_IQEI_TYPE = 3,       /* an unknown (or unsupported) descriptor type */
	VTD_IQEI_RESERVED = 4,   /* reserved bits set in a known type */
};

/* §10.4.30 IRTA_REG */
#define VTD_IRTA_S(v)        ((unsigned)(v) & 0xf) /* 2^(S + 1) entries */
#define VTD_IRTA_EIME        (1ull << 11)

/* §6.5.2: 128-bit invalidation descriptors; type[3:0] in bits 3:0, type[6:4] in 11:9. */
#define VTD_DESC_TYPE(lo)    ((unsigned)((lo) & 0xf) | (unsigned)(((lo) >> 5) & 0x70))
enum {
	VTD_DESC_CONTEXT = 1,
	VTD_DESC_IOTLB = 2,
	VTD_DESC_DEVICE_TLB = 3,
	VTD_DESC_IEC = 4,
	VTD_DESC_WAIT = 5,
};
#define VTD_DESC_G(lo)       ((unsigned)((lo) >> 4) & 3)
#define VTD_DESC_DID(lo)     ((uint16_t)((lo) >> 16))
#define VTD_DESC_CC_SID(lo)  ((uint16_t)((lo) >> 32))
#define VTD_DESC_CC_FM(lo)   ((unsigned)((lo) >> 48) & 3)
#define VTD_DESC_CC_RESERVED_LO  (0x1c0ull | 0xf000ull | ~((1ull << 50) - 1))
#define VTD_DESC_IOTLB_RESERVED_LO (0x100ull | 0xf000ull | ~0xffffffffull)
#define VTD_DESC_IOTLB_RESERVED_HI 0xf80ull
#define VTD_DESC_IEC_INDEXED (1ull << 4)
#define VTD_DESC_IEC_IM(lo)  ((unsigned)((lo) >> 27) & 0x1f)
#define VTD_DESC_IEC_IIDX(lo) ((uint16_t)((lo) >> 32))
#define VTD_DESC_IEC_RESERVED_LO (0x1e0ull | 0x7fff000ull | ~((1ull << 48) - 1))
#define VTD_DESC_WAIT_IF     (1ull << 4)
#define VTD_DESC_WAIT_SW     (1ull << 5)
#define VTD_DESC_WAIT_FN     (1ull << 6)
#define VTD_DESC_WAIT_DATA(lo) ((uint32_t)((lo) >> 32))
#define VTD_DESC_WAIT_RESERVED_LO (0x180ull | 0xfffff000ull) /* PD (bit 7) too: ECAP.PDS = 0 */
#define VTD_DESC_WAIT_RESERVED_HI 3ull

#endif
