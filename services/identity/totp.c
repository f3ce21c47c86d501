/*
 * totp.c - one-time passwords of the staff's second factor, their secrets' base32 form
 * and the QR code of an enrolment's otpauth:// URI.
 *
 * A code is RFC 4226's HOTP of the step number (Unix time / 30, big-endian 8 bytes)
 * under HMAC-SHA1 with dynamic truncation; RFC 6238's appendix B gives the test vectors
 * (tests/unit/test_identity_totp.c). Which steps are accepted, and that a used step is
 * not accepted again, is decided by identity.c, which keeps the last used step.
 *
 * Offers: identity_totp, identity_base32_encode, identity_base32_decode, identity_qr_svg.
 */
#include "totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int identity_totp(const uint8_t *key, size_t keylen, uint64_t step, int digits, char *out,
                  size_t size) {
  if (key == NULL || out == NULL || digits < 6 || digits > 8 || size <= (size_t)digits) return -1;
  uint8_t msg[8];
  for (int i = 7; i >= 0; i--) {
    msg[i] = (uint8_t)(step & 0xff);
    step >>= 8;
  }
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned maclen = 0;
  if (HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof msg, mac, &maclen) == NULL || maclen < 20)
    return -1;
  unsigned off = mac[maclen - 1] & 0x0f;
  uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
                 ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
  uint32_t mod = 1;
  for (int i = 0; i < digits; i++) mod *= 10;
  snprintf(out, size, "%0*u", digits, (unsigned)(bin % mod));
  return 0;
}

size_t identity_base32_encode(const uint8_t *in, size_t n, char *out, size_t size) {
  size_t need = (n * 8 + 4) / 5;
  if (out == NULL || size <= need) return 0;
  size_t o = 0;
  uint32_t buf = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    buf = (buf << 8) | in[i];
    bits += 8;
    while (bits >= 5) {
      out[o++] = B32[(buf >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out[o++] = B32[(buf << (5 - bits)) & 31];
  out[o] = '\0';
  return o;
}

int identity_base32_decode(const char *in, uint8_t *out, size_t size) {
  uint32_t buf = 0;
  int bits = 0;
  size_t o = 0;
  for (const char *p = in; *p != '\0'; p++) {
    char c = *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
    const char *at = strchr(B32, c);
    if (c == '\0' || at == NULL) return -1;
    buf = (buf << 5) | (uint32_t)(at - B32);
    bits += 5;
    if (bits >= 8) {
      if (o >= size) return -1;
      out[o++] = (uint8_t)(buf >> (bits - 8));
      bits -= 8;
    }
  }
  return (int)o;
}

char *identity_qr_svg(const char *text) {
  QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
  if (qr == NULL) return NULL;
  int w = qr->width, q = 4;
  /* at most one rect per two modules, each under 64 bytes */
  size_t cap = 256 + (size_t)w * (size_t)w * 32;
  char *svg = malloc(cap);
  if (svg == NULL) {
    QRcode_free(qr);
    return NULL;
  }
  size_t n = (size_t)snprintf(svg, cap,
                              "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\""
                              " shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\""
                              " fill=\"#fff\"/><g fill=\"#000\">",
                              w + 2 * q, w + 2 * q, w + 2 * q, w + 2 * q);
  for (int y = 0; y < w && n < cap; y++) {
    for (int x = 0; x < w && n < cap; x++) {
      if (!(qr->data[y * w + x] & 1)) continue;
      int run = 1;
      while (x + run < w && (qr->data[y * w + x + run] & 1)) run++;
      n += (size_t)snprintf(svg + n, cap - n, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"1\"/>",
                            x + q, y + q, run);
      x += run - 1;
    }
  }
  if (n < cap) n += (size_t)snprintf(svg + n, cap - n, "</g></svg>");
  QRcode_free(qr);
  if (n >= cap) {
    free(svg);
    return NULL;
  }
  return svg;
}
