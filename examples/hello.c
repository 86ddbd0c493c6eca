/* hello - the smallest mote server: one route, one port (8080, or the first argument). */
#include <stdlib.h>

#include "mote.h"

static void hello(mote_request *req, mote_response *res, void *user)
{
    (void)req, (void)user;
    mote_respond(res, 200, "text/plain", "Hello, world!\n");
}

int main(int argc, char **argv)
{
    mote_server *srv;
    if (mote_server_create(&srv, NULL) < 0) return 1;
    mote_route(srv, &(mote_route_def){.path = "/", .match = MOTE_ROUTE_PREFIX, .handler = hello});
    if (mote_listen(srv, NULL, (uint16_t)(argc > 1 ? atoi(argv[1]) : 8080)) < 0) return 1;
    return mote_server_run(srv) < 0;
}
