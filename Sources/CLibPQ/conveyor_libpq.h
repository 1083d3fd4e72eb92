#ifndef CONVEYOR_LIBPQ_H
#define CONVEYOR_LIBPQ_H
/*
 * libpq's API (Debian's libpq-dev headers). The module map names no library to link:
 * CLibPQLoader defines the PQ* functions as trampolines into libpq.so.5, which it loads on
 * the first PostgreSQL connection, so a process that only runs Redis jobs never maps libpq
 * and its TLS, Kerberos and LDAP dependencies (about 5 MiB of resident memory).
 */
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif

/* PG_DIAG_* are char macros ('C', 'M', ...) that Swift cannot import. */
static inline int clibpq_diag_sqlstate(void) { return PG_DIAG_SQLSTATE; }
static inline int clibpq_diag_message_primary(void) { return PG_DIAG_MESSAGE_PRIMARY; }
static inline int clibpq_diag_message_detail(void) { return PG_DIAG_MESSAGE_DETAIL; }
static inline int clibpq_diag_message_hint(void) { return PG_DIAG_MESSAGE_HINT; }
static inline int clibpq_diag_severity(void) { return PG_DIAG_SEVERITY_NONLOCALIZED; }
#endif
