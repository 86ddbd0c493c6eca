/* live.h - the sample's WebSockets: /ws echoes, /live shows the server's figures pushed from
 * /live/ws once a second. */
#ifndef MOTE_SAMPLE_LIVE_H
#define MOTE_SAMPLE_LIVE_H

#include "mote.h"

/* Registers /ws, /live and /live/ws, and starts each loop's one-second tick. */
int live_start(mote_server *srv);

#endif
