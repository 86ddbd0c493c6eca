/* arch/cc.h - lwIP's compiler and platform definitions for a Cortex-M4 with newlib
 * (scripts/footprint.sh builds mote's lwIP shell against them). */
#ifndef MOTE_ARM_LWIP_CC_H
#define MOTE_ARM_LWIP_CC_H

#define BYTE_ORDER LITTLE_ENDIAN
#define LWIP_PLATFORM_DIAG(x) do { } while (0)
#define LWIP_PLATFORM_ASSERT(x) do { } while (0)
#define LWIP_RAND() ((u32_t)0x6d6f7465u)

#endif
