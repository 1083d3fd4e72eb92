#ifndef CONVEYOR_LIBPQ_H
#define CONVEYOR_LIBPQ_H
/*
 * libpq's API, loaded on first use. Conveyor does not link libpq: the first PostgreSQL
 * connection dlopen()s libpq.so.5, so a process that only runs Redis jobs never maps libpq
 * and its TLS, Kerberos and LDAP dependencies (about 5 MiB of resident memory).
 * The PQ* functions declared by libpq-fe.h are defined in libpq_loader.c as trampolines.
 */
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif

/* Loads libpq once; 0 on success, -1 with conveyor_libpq_load_error() set otherwise.
 * Call before any other PQ* function (PostgresConnection does). Thread-safe. */
int conveyor_libpq_load(void);
const char *conveyor_libpq_load_error(void);

/* PG_DIAG_* are char macros ('C', 'M', ...) that Swift cannot import. */
static inline int clibpq_diag_sqlstate(void) { return PG_DIAG_SQLSTATE; }
static inline int clibpq_diag_message_primary(void) { return PG_DIAG_MESSAGE_PRIMARY; }
static inline int clibpq_diag_message_detail(void) { return PG_DIAG_MESSAGE_DETAIL; }
static inline int clibpq_diag_message_hint(void) { return PG_DIAG_MESSAGE_HINT; }
static inline int clibpq_diag_severity(void) { return PG_DIAG_SEVERITY_NONLOCALIZED; }
#endif
