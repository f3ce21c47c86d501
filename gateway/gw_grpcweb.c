/*
 * gw_grpcweb.c - unframing the body of a unary gRPC / gRPC-Web / gRPC-Web-text request.
 *
 * The base64 decoder is our own because OpenSSL's EVP_DecodeBlock treats "=" anywhere as
 * zero bits ("=AAA" decodes) and cannot tell where one padded chunk ends and the next
 * begins ("AA==AAAA" must be 1 + 3 bytes, not 6). Here each 4-character group decodes
 * to 3, 2 or 1 bytes; a group with padding ends its chunk, and the next group starts a
 * new one.
 *
 * Offers: gw_base64_decode_strict, gw_grpc_unframe.
 */
#include "gw_grpcweb.h"

#include <string.h>

/* The value of a base64 character, or -1. */
static int b64_value(uint8_t c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

long gw_base64_decode_strict(const uint8_t *text, size_t len, uint8_t *out) {
  if (len % 4 != 0) return -1;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; k++) {
      uint8_t c = text[i + (size_t)k];
      if (c == '=') {
        /* padding only in the last two places, and nothing but padding after it */
        if (k < 2) return -1;
        pad++;
        v[k] = 0;
        continue;
      }
      if (pad > 0) return -1;
      v[k] = b64_value(c);
      if (v[k] < 0) return -1;
    }
    uint32_t bits = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) |
                    (uint32_t)v[3];
    /* the bits padding leaves over must be zero (canonical encoding) */
    if ((pad == 2 && (bits & 0xffff) != 0) || (pad == 1 && (bits & 0xff) != 0)) return -1;
    out[o++] = (uint8_t)(bits >> 16);
    if (pad < 2) out[o++] = (uint8_t)(bits >> 8);
    if (pad < 1) out[o++] = (uint8_t)bits;
  }
  return (long)o;
}

grpc_status_code gw_grpc_unframe(int text, const uint8_t *body, size_t len, yw_arena *arena,
                                 const uint8_t **msg, size_t *msg_len, const char **why) {
  *msg = NULL;
  *msg_len = 0;
  if (text) {
    if (len % 4 != 0) {
      *why = "grpc-web-text body is not base64";
      return GRPC_STATUS_INVALID_ARGUMENT;
    }
    uint8_t *decoded = yw_arena_alloc(arena, len / 4 * 3 + 1);
    if (decoded == NULL) {
      *why = "the request is too large";
      return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    long n = gw_base64_decode_strict(body, len, decoded);
    if (n < 0) {
      *why = "grpc-web-text body is not base64";
      return GRPC_STATUS_INVALID_ARGUMENT;
    }
    body = decoded;
    len = (size_t)n;
  }
  if (len < GW_GRPC_FRAME_HEADER) {
    *why = "a unary call carries one message frame";
    return GRPC_STATUS_INVALID_ARGUMENT;
  }
  if (body[0] != 0) {
    *why = "compressed messages are not accepted";
    return GRPC_STATUS_UNIMPLEMENTED;
  }
  size_t mlen = ((size_t)body[1] << 24) | ((size_t)body[2] << 16) | ((size_t)body[3] << 8) |
                body[4];
  if (mlen != len - GW_GRPC_FRAME_HEADER) {
    *why = "a unary call carries exactly one message";
    return GRPC_STATUS_INVALID_ARGUMENT;
  }
  *msg = body + GW_GRPC_FRAME_HEADER;
  *msg_len = mlen;
  return GRPC_STATUS_OK;
}
