/* startup.c - reset handler and vector table for the test programs on an emulated Cortex-M4
 * (QEMU's mps2-an386): copy .data from flash, zero .bss, open semihosting's standard streams,
 * run main() and exit with its status, which QEMU passes on. newlib's own _start takes its
 * stack from semihosting and faults on this board, hence this one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
extern void initialise_monitor_handles(void);
extern int main(void);

void reset_handler(void);
void _init(void);
void _fini(void);

void _init(void)
{
}

void _fini(void)
{
}

/* Any fault ends the run with a status no test uses. */
static void fault(void)
{
    exit(99);
}

typedef void (*vector)(void);

__attribute__((section(".vectors"), used)) static const vector vectors[16] = {
    (vector)(uintptr_t)&__stack_top, reset_handler, fault, fault, fault, fault, fault,
    0, 0, 0, 0, fault, fault, 0, fault, fault};

void reset_handler(void)
{
    memcpy(&__data_start, &__data_load, (size_t)((char *)&__data_end - (char *)&__data_start));
    memset(&__bss_start, 0, (size_t)((char *)&__bss_end - (char *)&__bss_start));
    initialise_monitor_handles();
    exit(main());
}
