/* rest - a device's JSON API: GET /api/state reads the state, PUT /api/state replaces it.
 *
 *     curl http://127.0.0.1:8080/api/state
 *     curl -X PUT -d '{"name": "desk", "led": true, "brightness": 80}' \
 *          http://127.0.0.1:8080/api/state
 *
 * The route does the HTTP checks before the handler runs: a method other than GET, HEAD or PUT
 * gets 405 with Allow, a body over 1 KiB gets 413. The handler checks the JSON (with cJSON) and
 * answers 400 with {"error": "..."} when it is not a state. Usage: rest [port] (8080; 0 picks a
 * free one). Build: cc rest.c $(pkg-config --cflags --libs mote) -lcjson */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mote.h"

#define MAX_BODY 1024 /* a state is far smaller: anything bigger is not one */
#define MAX_NAME 32

typedef struct device {
    char name[MAX_NAME + 1];
    int led;        /* on or off */
    int brightness; /* 0..100 */
} device;

static void reply_error(mote_response *res, int status, const char *message)
{
    char body[128];
    /* the messages are this file's own: nothing in them needs escaping */
    snprintf(body, sizeof body, "{\"error\": \"%s\"}", message);
    mote_respond(res, status, "application/json", body);
}

static void reply_state(mote_response *res, const device *d)
{
    cJSON *json = cJSON_CreateObject();
    char *text;
    cJSON_AddStringToObject(json, "name", d->name);
    cJSON_AddBoolToObject(json, "led", d->led);
    cJSON_AddNumberToObject(json, "brightness", d->brightness);
    text = cJSON_PrintUnformatted(json); /* NULL if any allocation above failed */
    cJSON_Delete(json);
    if (!text) {
        reply_error(res, 500, "out of memory");
        return;
    }
    mote_respond(res, 200, "application/json", text); /* copies the body into the send buffer */
    cJSON_free(text);
}

/* Fills `out` from a JSON object holding every field; returns NULL, or why it is no state. */
static const char *parse_state(const cJSON *json, device *out)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(json, "name");
    const cJSON *led = cJSON_GetObjectItemCaseSensitive(json, "led");
    const cJSON *brightness = cJSON_GetObjectItemCaseSensitive(json, "brightness");
    double b;
    if (!cJSON_IsObject(json)) return "the body must be a JSON object";
    if (!cJSON_IsString(name) || name->valuestring[0] == '\0' ||
        strlen(name->valuestring) > MAX_NAME)
        return "name must be a string of 1 to 32 bytes";
    if (!cJSON_IsBool(led)) return "led must be true or false";
    b = cJSON_IsNumber(brightness) ? brightness->valuedouble : -1;
    /* JSON numbers are doubles: in range first, so that the cast below is defined */
    if (b < 0 || b > 100 || b != (double)(int)b)
        return "brightness must be an integer from 0 to 100";
    strcpy(out->name, name->valuestring);
    out->led = cJSON_IsTrue(led);
    out->brightness = (int)b;
    return NULL;
}

/* The route is EXACT, GET/PUT only and collects the body: a PUT's body is all here. */
static void state(mote_request *req, mote_response *res, void *user)
{
    device *d = user;
    device next;
    mote_str body = mote_request_body(req); /* NUL-terminated, as cJSON wants it */
    cJSON *json;
    const char *error;

    if (mote_request_method_id(req) != MOTE_PUT) { /* GET or HEAD */
        reply_state(res, d);
        return;
    }
    /* a NUL inside the body would hide what follows it */
    json = strlen(body.ptr) == body.len ? cJSON_ParseWithOpts(body.ptr, NULL, 1) : NULL;
    if (!json) {
        reply_error(res, 400, "the body is not valid JSON");
        return;
    }
    error = parse_state(json, &next);
    cJSON_Delete(json);
    if (error) {
        reply_error(res, 400, error); /* and the state stays as it was */
        return;
    }
    *d = next;
    reply_state(res, d);
}

static mote_server *server;

static void on_signal(int sig)
{
    (void)sig;
    mote_server_stop(server); /* safe in a signal handler: the loop finishes what is open */
}

int main(int argc, char **argv)
{
    static device dev = {"mote", 0, 50};
    const mote_route_def route = {.path = "/api/state", .handler = state, .user = &dev,
                                  .methods = MOTE_GET | MOTE_PUT, .body = MOTE_BODY_COLLECT,
                                  .max_body_size = MAX_BODY};
    struct sigaction sa;
    int listener, rc;

    if (mote_server_create(&server, NULL) < 0) return 1;
    mote_route(server, &route);
    listener = mote_listen(server, NULL, (uint16_t)(argc > 1 ? atoi(argv[1]) : 8080));
    if (listener < 0) {
        fprintf(stderr, "rest: %s\n", mote_strerror(listener));
        mote_server_destroy(server);
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("rest: listening on port %d\n", mote_listener_port(server, listener));
    fflush(stdout);
    rc = mote_server_run(server);
    signal(SIGINT, SIG_DFL); /* from now on the handler would reach a destroyed server */
    signal(SIGTERM, SIG_DFL);
    mote_server_destroy(server);
    return rc < 0;
}
