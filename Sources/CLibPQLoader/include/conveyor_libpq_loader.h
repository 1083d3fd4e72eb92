#ifndef CONVEYOR_LIBPQ_LOADER_H
#define CONVEYOR_LIBPQ_LOADER_H
/* Loads libpq.so.5 once; 0 on success, -1 with conveyor_libpq_load_error() set otherwise.
 * Call before any other PQ* function (PostgresConnection does). Thread-safe. The PQ*
 * functions themselves are declared by libpq-fe.h (module CLibPQ). */
int conveyor_libpq_load(void);
const char *conveyor_libpq_load_error(void);
#endif
