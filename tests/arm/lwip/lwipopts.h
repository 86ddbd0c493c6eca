/* lwipopts.h - lwIP's options for building mote's lwIP shell with arm-none-eabi-gcc
 * (scripts/footprint.sh): a bare-metal device (NO_SYS 1: no operating system, the main loop
 * calls lwIP), static memory, IPv4 and IPv6. Only headers are read: no lwIP is linked. */
#ifndef MOTE_ARM_LWIPOPTS_H
#define MOTE_ARM_LWIPOPTS_H

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define LWIP_TCP 1
#define LWIP_TIMERS 1
#define MEM_ALIGNMENT 4
#define MEM_SIZE (16 * 1024)
#define MEMP_NUM_TCP_PCB 8
#define MEMP_NUM_TCP_SEG 32
#define PBUF_POOL_SIZE 16
#define TCP_MSS 1460
#define TCP_WND (4 * TCP_MSS)
#define TCP_SND_BUF (4 * TCP_MSS)

#endif
