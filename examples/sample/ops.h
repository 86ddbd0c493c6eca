/* ops.h - the sample's pages for operators: /healthz for a load balancer's checks, and
 * /metrics, the server's figures in Prometheus's text format, for the networks allowed. */
#ifndef MOTE_SAMPLE_OPS_H
#define MOTE_SAMPLE_OPS_H

#include "mote.h"

#define OPS_MAX_NETWORKS 16

/* Who may read /metrics: networks as "10.0.0.0/8" or one address. */
typedef struct ops {
    mote_server *srv;
    unsigned char net[OPS_MAX_NETWORKS][16];
    unsigned char family[OPS_MAX_NETWORKS], bits[OPS_MAX_NETWORKS];
    int count;
} ops;

/* Adds a network to those allowed /metrics: 0, or -1 when it is not one (or one too many). */
int ops_allow(ops *o, const char *cidr);

/* 200 "ok" while serving, 503 "draining" once the server stops (user: the ops). */
void page_healthz(mote_request *req, mote_response *res, void *user);

/* Every loop's figures summed, gathered on each loop's own thread; 403 for a client outside
 * the networks allowed (user: the ops). */
void page_metrics(mote_request *req, mote_response *res, void *user);

#endif
