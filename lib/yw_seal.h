/*
 * yw_seal.h - a department's seal (电子印章): SM2 signatures with SM3 over a record's
 * canonical bytes (GM/T 0003 signature, GM/T 0004 digest, OpenSSL 3), for electronic
 * licenses (电子证照) and receipts that anyone holding the public key can verify, with
 * this library or with the openssl command line:
 *
 *   openssl pkeyutl -verify -pubin -inkey seal.pub -rawin -digest sm3 \
 *     -pkeyopt distid:1234567812345678 -in record -sigfile record.sig
 *
 * The signer's distinguishing identifier is GM/T 0009's default user id
 * "1234567812345678", set explicitly (OpenSSL's own default has changed between
 * versions). A signature is the DER of (r, s), carried as standard base64.
 *
 * A record is signed as canonical JSON (yw_seal_canonical_json): keys sorted, no spaces,
 * UTF-8 as is, so that the same record gives the same bytes wherever it is rebuilt.
 *
 * Keys are PEM (a PKCS#8 private key or a SubjectPublicKeyInfo public key) of type SM2;
 * any other key type is refused. A yw_seal is immutable after it is made and may be
 * used from several threads at once.
 *
 * Offers: yw_seal_generate, yw_seal_from_pem, yw_seal_public_pem, yw_seal_free,
 * yw_seal_sign, yw_seal_verify, yw_seal_canonical_json.
 */
#ifndef YW_SEAL_H
#define YW_SEAL_H

#include <stddef.h>

#define YW_SEAL_ID "1234567812345678"
/* Bytes of a base64 signature and its NUL (an SM2 DER signature is at most 72 bytes). */
#define YW_SEAL_SIG_MAX 128

typedef struct yw_seal yw_seal;

/* A new SM2 key pair as PEM texts (the caller frees both with free). Returns 0,
 * YW_ENOMEM or YW_EINTERNAL. */
int yw_seal_generate(char **private_pem, char **public_pem);

/* A seal from a PEM private key (it signs and verifies) or public key (it verifies).
 * Returns 0 and *out, YW_EINVAL (not a PEM key, or not SM2) or YW_ENOMEM. */
int yw_seal_from_pem(const char *pem, size_t len, yw_seal **out);

/* The seal's public key as PEM (the caller frees it). 0, YW_ENOMEM or YW_EINTERNAL. */
int yw_seal_public_pem(const yw_seal *s, char **out);

void yw_seal_free(yw_seal *s);

/* Signs data[0..len) into sig (base64 and a NUL; size at least YW_SEAL_SIG_MAX).
 * Returns 0, YW_EINVAL (a seal without its private key, size too small) or
 * YW_EINTERNAL. */
int yw_seal_sign(const yw_seal *s, const void *data, size_t len, char *sig, size_t size);

/* 0 when sig (base64) is the seal's signature of data[0..len); YW_EINVAL when it is not
 * (or is not a signature at all). */
int yw_seal_verify(const yw_seal *s, const void *data, size_t len, const char *sig);

/* The canonical form of a JSON object (keys sorted at every level, no spaces, strings
 * in UTF-8), allocated (the caller frees it). Returns 0, YW_EINVAL (not a JSON object)
 * or YW_ENOMEM. */
int yw_seal_canonical_json(const char *json, size_t len, char **out);

#endif
