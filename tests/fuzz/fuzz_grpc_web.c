/*
 * fuzz_grpc_web.c - the unframing of a unary gRPC, gRPC-Web and gRPC-Web-text request
 * body as gw_handle.c's handle_grpc does it: base64 for -text (EVP_DecodeBlock), then
 * exactly one uncompressed message frame (flag byte, 4-byte big-endian length).
 *
 * handle_grpc is static and does more than unframe (routes, access, the upstream call),
 * so its unframing is mirrored here step for step (see unframe below) until it is a
 * function of its own that this target can call instead.
 *
 * Input: the first byte picks gRPC / gRPC-Web (binary) or gRPC-Web-text, the rest is
 * the body. Properties: a frame that is accepted lies wholly inside the decoded body and
 * its length is what the header says; nothing is read or written outside the buffers.
 */
#include <openssl/evp.h>
#include <string.h>

#include "fuzz.h"

#define GRPC_FRAME_HEADER 5

/* Returns 0 with *msg and *mlen set, or -1 for a body the gateway refuses. *scratch is the
 * buffer the caller frees. */
static int unframe(int text, const uint8_t *body, size_t len, uint8_t **scratch,
                   const uint8_t **msg, size_t *mlen, size_t *decoded_len) {
  *scratch = NULL;
  if (text) {
    if (len % 4 != 0) return -1;
    if (len > INT32_MAX) return -1;
    uint8_t *decoded = malloc(len / 4 * 3 + 1);
    FUZZ_CHECK(decoded != NULL);
    *scratch = decoded;
    int n = EVP_DecodeBlock(decoded, body, (int)len);
    if (n < 0) return -1;
    if (len >= 1 && body[len - 1] == '=') n--;
    if (len >= 2 && body[len - 2] == '=') n--;
    FUZZ_CHECK(n >= 0 && (size_t)n <= len / 4 * 3);
    body = decoded;
    len = (size_t)n;
  }
  *decoded_len = len;
  if (len < GRPC_FRAME_HEADER) return -1;
  if (body[0] != 0) return -1;
  size_t m = ((size_t)body[1] << 24) | ((size_t)body[2] << 16) | ((size_t)body[3] << 8) | body[4];
  if (m != len - GRPC_FRAME_HEADER) return -1;
  *msg = body + GRPC_FRAME_HEADER;
  *mlen = m;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > (1u << 20)) return 0;
  int text = data[0] & 1;
  size_t len = size - 1;
  /* the body in a buffer of its own exact size, as the request's body is */
  uint8_t *body = malloc(len > 0 ? len : 1);
  FUZZ_CHECK(body != NULL);
  memcpy(body, data + 1, len);
  uint8_t *scratch = NULL;
  const uint8_t *msg = NULL;
  size_t mlen = 0, dlen = 0;
  if (unframe(text, body, len, &scratch, &msg, &mlen, &dlen) == 0) {
    const uint8_t *base = text ? scratch : body;
    FUZZ_CHECK(msg == base + GRPC_FRAME_HEADER);
    FUZZ_CHECK(mlen + GRPC_FRAME_HEADER == dlen);
    /* touch every byte handed to the upstream: ASan reports any outside the buffer */
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < mlen; i++) sum = (uint8_t)(sum + msg[i]);
    (void)sum;
  }
  free(scratch);
  free(body);
  return 0;
}
