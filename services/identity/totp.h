/*
 * totp.h - the second factor of staff: time-based one-time passwords (RFC 6238 over
 * RFC 4226: HMAC-SHA1, 30-second steps, 6 digits), the base32 form of their secrets
 * (RFC 4648, no padding) that authenticator apps read from otpauth:// URIs, and the
 * QR code of such a URI as SVG (libqrencode).
 */
#ifndef YW_IDENTITY_TOTP_H
#define YW_IDENTITY_TOTP_H

#include <stddef.h>
#include <stdint.h>

#define IDENTITY_TOTP_STEP_S 30

/* The code of step (Unix time / 30) for key, as `digits` (6..8) decimal digits into out
 * (size > digits). Returns 0, or -1 on bad arguments or when HMAC fails. */
int identity_totp(const uint8_t *key, size_t keylen, uint64_t step, int digits, char *out,
                  size_t size);

/* Base32 (A-Z2-7, no padding) of n bytes into out. Returns the length written, or 0
 * when out is too small. */
size_t identity_base32_encode(const uint8_t *in, size_t n, char *out, size_t size);

/* Decodes base32 text (upper or lower case, no padding) into out. Returns the number of
 * bytes, or -1 for a character outside the alphabet or an out too small. */
int identity_base32_decode(const char *in, uint8_t *out, size_t size);

/* The QR code of text (error correction M) as an SVG document, one <rect> per run of
 * dark modules, with a quiet zone of 4. Returns a string the caller frees, or NULL. */
char *identity_qr_svg(const char *text);

#endif
