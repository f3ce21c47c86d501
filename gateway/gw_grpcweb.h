/*
 * gw_grpcweb.h - the body of a unary gRPC, gRPC-Web or gRPC-Web-text request, unframed:
 * base64 first for -text (strict: the standard alphabet, no whitespace, "=" only as the
 * padding that ends a 4-character group; the body may be several padded chunks one
 * after another, as gRPC-Web clients send them), then exactly one uncompressed message
 * frame (flag byte 0, 4-byte big-endian length equal to the rest).
 */
#ifndef GW_GRPCWEB_H
#define GW_GRPCWEB_H

#include <grpc/status.h>
#include <stddef.h>
#include <stdint.h>

#include "yw_arena.h"

#define GW_GRPC_FRAME_HEADER 5

/*
 * Decodes base64 text of len bytes into out (room for len / 4 * 3 bytes). Returns the
 * decoded length, or -1 when text is not strict base64 (see above).
 */
long gw_base64_decode_strict(const uint8_t *text, size_t len, uint8_t *out);

/*
 * Unframes body (len bytes; base64 text when text is 1). On GRPC_STATUS_OK, *msg and
 * *msg_len are the message (inside body, or inside a buffer from arena for -text).
 * Otherwise *why says what is wrong, for the error answer: INVALID_ARGUMENT for a
 * malformed body, UNIMPLEMENTED for a compressed message, RESOURCE_EXHAUSTED when the
 * arena is full.
 */
grpc_status_code gw_grpc_unframe(int text, const uint8_t *body, size_t len, yw_arena *arena,
                                 const uint8_t **msg, size_t *msg_len, const char **why);

#endif
