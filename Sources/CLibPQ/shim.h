#ifndef CONVEYOR_CLIBPQ_SHIM_H
#define CONVEYOR_CLIBPQ_SHIM_H
#include <libpq-fe.h>

/* PG_DIAG_* are char macros ('C', 'M', ...) that Swift cannot import. */
static inline int clibpq_diag_sqlstate(void) { return PG_DIAG_SQLSTATE; }
static inline int clibpq_diag_message_primary(void) { return PG_DIAG_MESSAGE_PRIMARY; }
static inline int clibpq_diag_message_detail(void) { return PG_DIAG_MESSAGE_DETAIL; }
static inline int clibpq_diag_message_hint(void) { return PG_DIAG_MESSAGE_HINT; }
static inline int clibpq_diag_severity(void) { return PG_DIAG_SEVERITY_NONLOCALIZED; }
#endif
