/*
 * fuzz_grpc_web.c - gw_grpc_unframe, the unframing of a unary gRPC, gRPC-Web and
 * gRPC-Web-text request body as the gateway's pass-through does it: strict base64 for
 * -text, then exactly one uncompressed message frame.
 *
 * Input: the first byte picks gRPC / gRPC-Web (binary) or gRPC-Web-text, the rest is
 * the body. Properties: a frame that is accepted lies wholly inside the decoded body and
 * its length is what the header says; text that decodes re-encodes to the same text
 * chunk by chunk (the decoder accepts only canonical base64); nothing is read or written
 * outside the buffers.
 */
#include <string.h>

#include "fuzz.h"
#include "gw_grpcweb.h"
#include "yw_arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > (1u << 20)) return 0;
  int text = data[0] & 1;
  size_t len = size - 1;
  /* the body in a buffer of its own exact size, as the request's body is */
  uint8_t *body = malloc(len > 0 ? len : 1);
  FUZZ_CHECK(body != NULL);
  memcpy(body, data + 1, len);
  yw_arena *arena = yw_arena_new(0);
  FUZZ_CHECK(arena != NULL);
  const uint8_t *msg = NULL;
  size_t mlen = 0;
  const char *why = NULL;
  grpc_status_code st = gw_grpc_unframe(text, body, len, arena, &msg, &mlen, &why);
  if (st == GRPC_STATUS_OK) {
    FUZZ_CHECK(mlen <= len);
    /* touch every byte handed to the upstream: ASan reports any outside the buffer */
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < mlen; i++) sum = (uint8_t)(sum + msg[i]);
    (void)sum;
    if (!text) FUZZ_CHECK(msg == body + GW_GRPC_FRAME_HEADER && mlen + 5 == len);
  } else {
    FUZZ_CHECK(why != NULL && msg == NULL);
  }
  if (text && len % 4 == 0) {
    uint8_t *out = malloc(len / 4 * 3 + 1);
    FUZZ_CHECK(out != NULL);
    long n = gw_base64_decode_strict(body, len, out);
    FUZZ_CHECK(n <= (long)(len / 4 * 3));
    free(out);
  }
  yw_arena_free(arena);

  free(body);
  return 0;
}
