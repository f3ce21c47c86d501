/*
 * yw_testpay.h - yw-payment served in the test's process on a fresh database (the
 * payment schema's migrations, its outbox and kept answers), the test Redis, and calls
 * to it as a signed caller over a real gRPC connection.
 */
#ifndef YW_TESTPAY_H
#define YW_TESTPAY_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "payment.h"
#include "yw_caller.h"

extern payment_ctx yw_testpay_ctx;

/* Starts the service (ctx fields other than the pool, Redis and keys may be set before
 * by the test: channels, timeouts). Returns 0 or -1 with a message on stderr. */
int yw_testpay_start(void);
void yw_testpay_stop(void);

/* The caller of the next calls: a resident (subject), or staff of department with roles. */
void yw_testpay_as_person(const char *subject);
void yw_testpay_as_staff(const char *subject, const char *department, const char *roles);
void yw_testpay_as_anonymous(void);

/* Calls method ("CreateOrder") with req; idem_key (may be NULL) as idempotency-key.
 * Answers the status; *out is the response (free with protobuf_c_message_free_unpacked)
 * or NULL; msg (may be NULL, 256 bytes) the status message. */
grpc_status_code yw_testpay_call(const char *method, const ProtobufCMessage *req,
                                 const ProtobufCMessageDescriptor *out_desc, const char *idem_key,
                                 ProtobufCMessage **out, char *msg);

/* The same as caller (any thread; caller's ts is set). */
grpc_status_code yw_testpay_call_as(yw_caller *caller, const char *method, const ProtobufCMessage *req,
                                    const ProtobufCMessageDescriptor *out_desc, const char *idem_key,
                                    ProtobufCMessage **out, char *msg);

/* A number from one SQL query on the test database (-1 on failure): the query, then the
 * text of its parameters $1, $2, ... (yw_testpay_count("... WHERE id = $1", id)). */
long long yw_testpay_count_(const char *const *sql_and_params);
#define yw_testpay_count(...) yw_testpay_count_((const char *const[]){__VA_ARGS__, NULL})

/* Asserts (cmocka) that ledger_check finds nothing. */
void yw_testpay_assert_ledger_ok(void);

#endif
