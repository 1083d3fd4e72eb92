#ifndef CONVEYOR_CHIREDIS_SHIM_H
#define CONVEYOR_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <sys/time.h>

/* Reply type tags are macros; expose them as functions Swift can call. */
static inline int chiredis_reply_string(void) { return REDIS_REPLY_STRING; }
static inline int chiredis_reply_array(void) { return REDIS_REPLY_ARRAY; }
static inline int chiredis_reply_integer(void) { return REDIS_REPLY_INTEGER; }
static inline int chiredis_reply_nil(void) { return REDIS_REPLY_NIL; }
static inline int chiredis_reply_status(void) { return REDIS_REPLY_STATUS; }
static inline int chiredis_reply_error(void) { return REDIS_REPLY_ERROR; }
static inline int chiredis_ok(void) { return REDIS_OK; }
static inline int chiredis_err_io(void) { return REDIS_ERR_IO; }
static inline int chiredis_err_eof(void) { return REDIS_ERR_EOF; }
static inline int chiredis_err_protocol(void) { return REDIS_ERR_PROTOCOL; }
#endif
