#define _GNU_SOURCE
#include "conveyor_libpq_loader.h"
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Every libpq function Conveyor calls: return type, name, parameters, arguments.
 * The definitions below must match libpq-fe.h exactly, which the compiler checks. */
#define CONVEYOR_PQ_FUNCTIONS(X) \
    X(PGconn *, PQconnectdbParams, (const char *const *keywords, const char *const *values, int expand_dbname), (keywords, values, expand_dbname)) \
    X(ConnStatusType, PQstatus, (const PGconn *conn), (conn)) \
    X(char *, PQerrorMessage, (const PGconn *conn), (conn)) \
    X(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *conn, PQnoticeProcessor proc, void *arg), (conn, proc, arg)) \
    X(PGresult *, PQexec, (PGconn *conn, const char *query), (conn, query)) \
    X(PGresult *, PQexecParams, (PGconn *conn, const char *command, int nParams, const Oid *paramTypes, const char *const *paramValues, const int *paramLengths, const int *paramFormats, int resultFormat), (conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat)) \
    X(char *, PQescapeIdentifier, (PGconn *conn, const char *str, size_t len), (conn, str, len)) \
    X(char *, PQcmdTuples, (PGresult *res), (res)) \
    X(PGTransactionStatusType, PQtransactionStatus, (const PGconn *conn), (conn)) \
    X(int, PQserverVersion, (const PGconn *conn), (conn)) \
    X(ExecStatusType, PQresultStatus, (const PGresult *res), (res)) \
    X(char *, PQresultErrorMessage, (const PGresult *res), (res)) \
    X(char *, PQresultErrorField, (const PGresult *res, int fieldcode), (res, fieldcode)) \
    X(int, PQntuples, (const PGresult *res), (res)) \
    X(int, PQnfields, (const PGresult *res), (res)) \
    X(char *, PQgetvalue, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num)) \
    X(int, PQgetlength, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num)) \
    X(int, PQgetisnull, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num)) \
    X(char *, PQfname, (const PGresult *res, int field_num), (res, field_num)) \
    X(int, PQbackendPID, (const PGconn *conn), (conn)) \
    X(PGresult *, PQprepare, (PGconn *conn, const char *stmtName, const char *query, int nParams, const Oid *paramTypes), (conn, stmtName, query, nParams, paramTypes)) \
    X(PGresult *, PQexecPrepared, (PGconn *conn, const char *stmtName, int nParams, const char *const *paramValues, const int *paramLengths, const int *paramFormats, int resultFormat), (conn, stmtName, nParams, paramValues, paramLengths, paramFormats, resultFormat)) \
    X(int, PQsocket, (const PGconn *conn), (conn)) \
    X(int, PQconsumeInput, (PGconn *conn), (conn)) \
    X(PGnotify *, PQnotifies, (PGconn *conn), (conn)) \
    X(int, PQsendQuery, (PGconn *conn, const char *query), (conn, query)) \
    X(int, PQsendQueryParams, (PGconn *conn, const char *command, int nParams, const Oid *paramTypes, const char *const *paramValues, const int *paramLengths, const int *paramFormats, int resultFormat), (conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat)) \
    X(int, PQsendPrepare, (PGconn *conn, const char *stmtName, const char *query, int nParams, const Oid *paramTypes), (conn, stmtName, query, nParams, paramTypes)) \
    X(int, PQsendQueryPrepared, (PGconn *conn, const char *stmtName, int nParams, const char *const *paramValues, const int *paramLengths, const int *paramFormats, int resultFormat), (conn, stmtName, nParams, paramValues, paramLengths, paramFormats, resultFormat)) \
    X(int, PQisBusy, (PGconn *conn), (conn)) \
    X(PGresult *, PQgetResult, (PGconn *conn), (conn)) \
    X(int, PQflush, (PGconn *conn), (conn))

#define CONVEYOR_PQ_VOID_FUNCTIONS(X) \
    X(PQfinish, (PGconn *conn), (conn)) \
    X(PQclear, (PGresult *res), (res)) \
    X(PQfreemem, (void *ptr), (ptr))

#define DECLARE_POINTER(ret, name, params, args) static ret (*resolved_##name) params;
#define DECLARE_VOID_POINTER(name, params, args) static void (*resolved_##name) params;
CONVEYOR_PQ_FUNCTIONS(DECLARE_POINTER)
CONVEYOR_PQ_VOID_FUNCTIONS(DECLARE_VOID_POINTER)

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_status = -1;
static char load_error[512];

static void *resolve(void *library, const char *name) {
    void *symbol = dlsym(library, name);
    if (!symbol && load_error[0] == 0) {
        snprintf(load_error, sizeof load_error, "libpq.so.5 has no %s (libpq older than PostgreSQL 10?)", name);
    }
    return symbol;
}

static void load(void) {
    void *library = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        snprintf(load_error, sizeof load_error, "cannot load libpq (install the libpq5 package): %s", dlerror());
        return;
    }
#define RESOLVE(ret, name, params, args) resolved_##name = (ret (*) params)resolve(library, #name);
#define RESOLVE_VOID(name, params, args) resolved_##name = (void (*) params)resolve(library, #name);
    CONVEYOR_PQ_FUNCTIONS(RESOLVE)
    CONVEYOR_PQ_VOID_FUNCTIONS(RESOLVE_VOID)
    if (load_error[0] == 0) load_status = 0;
}

int conveyor_libpq_load(void) {
    pthread_once(&load_once, load);
    return load_status;
}

const char *conveyor_libpq_load_error(void) { return load_error; }

/* The trampolines: libpq's own names, so callers are written against libpq-fe.h. */
#define DEFINE_TRAMPOLINE(ret, name, params, args) ret name params { return resolved_##name args; }
#define DEFINE_VOID_TRAMPOLINE(name, params, args) void name params { resolved_##name args; }
CONVEYOR_PQ_FUNCTIONS(DEFINE_TRAMPOLINE)
CONVEYOR_PQ_VOID_FUNCTIONS(DEFINE_VOID_TRAMPOLINE)
