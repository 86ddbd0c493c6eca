/* static_config.h - a device's compile-time configuration (MOTE_CONFIG_USER_FILE) for
 * test_static_memory: eight connections with small buffers, no TLS. */
#define MOTE_CONFIG_MAX_CONNECTIONS 8
#define MOTE_CONFIG_MAX_REQUEST_LINE 512
#define MOTE_CONFIG_MAX_HEADER_BYTES 1024
#define MOTE_CONFIG_MAX_HEADERS 16
#define MOTE_CONFIG_RESPONSE_BUFFER_SIZE 2048
#define MOTE_CONFIG_MAX_BODY_SIZE 65536
#define MOTE_CONFIG_MAX_POSTS 8
#define MOTE_CONFIG_MAX_TIMERS 4
#define MOTE_CONFIG_LOG_LEVEL 0
#define MOTE_CONFIG_TLS 0 /* and without mbedTLS */
