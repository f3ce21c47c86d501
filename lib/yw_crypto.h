/*
 * yw_crypto.h - personal-data protection and identity checks shared by the services:
 * national check digits, masking, encryption at rest, keyed lookup hashes, password
 * hashing and random tokens. Built on OpenSSL 3 and libargon2.
 *
 * Keys are 32 bytes, given to a process as 64 hex characters in its configuration
 * (YW_DATA_KEY, YW_LOOKUP_KEY, ...); never logged.
 */
#ifndef YW_CRYPTO_H
#define YW_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define YW_KEY_BYTES 32

/* Parses 64 hex characters into key. Returns 0 or YW_EINVAL. */
int yw_key_from_hex(const char *hex, uint8_t key[YW_KEY_BYTES]);

/* ---- national identifiers -------------------------------------------------------- */

/* GB 11643-1999 citizen ID number: 18 characters, 17 digits then a check character
 * (digit or 'X'; lower-case 'x' accepted), a plausible birth date (YYYYMMDD from
 * 1900-01-01 to today, a real calendar day) and the ISO 7064 MOD 11-2 check digit.
 * Returns 1 when valid, 0 otherwise. */
int yw_id_card_valid(const char *id);

/* GB 32100-2015 unified social credit code (统一社会信用代码): 18 characters from
 * "0123456789ABCDEFGHJKLMNPQRTUWXY" with the weighted MOD 31 check character.
 * Returns 1 when valid, 0 otherwise. */
int yw_uscc_valid(const char *code);

/* Mainland mobile number: 11 digits starting with 1[3-9]. Returns 1 or 0. */
int yw_phone_valid(const char *phone);

/* ---- masking (for every response and log line) ----------------------------------- */

/* "320722199001011234" -> "3207**********1234" (first 4, last 4 kept). Any other
 * length: all but the last 4 masked (or everything when shorter than 5). out must have
 * room for strlen(id)+1 bytes. Returns out. */
char *yw_mask_id_card(const char *id, char *out, size_t size);

/* "13812345678" -> "138****5678". Returns out. */
char *yw_mask_phone(const char *phone, char *out, size_t size);

/* "张三丰" -> "*三丰" style: the first character (UTF-8 aware) replaced by '*'.
 * Returns out. */
char *yw_mask_name(const char *name, char *out, size_t size);

/* ---- encryption at rest ---------------------------------------------------------- */

/*
 * AES-256-GCM with a random 12-byte nonce. The output is nonce || ciphertext || 16-byte
 * tag, hex-encoded into out (room for 2*(12+len+16)+1 bytes), so it can be stored in a
 * text column. aad (may be NULL) binds the ciphertext to its context (e.g. the row's
 * account id). Returns 0, YW_ETOOBIG (out too small) or YW_EINTERNAL.
 */
int yw_encrypt(const uint8_t key[YW_KEY_BYTES], const char *plain, size_t len, const char *aad,
               char *out, size_t size);

/* Reverses yw_encrypt into out (room for len+1 bytes; NUL-terminated). Returns 0,
 * YW_EINVAL (malformed or tampered: the tag does not verify, or another aad) or
 * YW_ETOOBIG. */
int yw_decrypt(const uint8_t key[YW_KEY_BYTES], const char *hex, const char *aad, char *out,
               size_t size);

/* ---- keyed hashes ---------------------------------------------------------------- */

/* HMAC-SHA256(key, data) as 64 lower-case hex characters + NUL into out[65]. Used to
 * look personal data up without storing it in clear, and to sign gateway metadata. */
void yw_hmac_hex(const uint8_t key[YW_KEY_BYTES], const void *data, size_t len, char out[65]);

/* SHA-256 of data as 64 hex characters + NUL (for storing tokens by hash). */
void yw_sha256_hex(const void *data, size_t len, char out[65]);

/* n bytes as 2n lower-case hex characters + NUL into out (2n+1 bytes). */
void yw_hex_encode(const uint8_t *in, size_t n, char *out);

/* n hex digits (either case) into n/2 bytes of out. Returns 0, or YW_EINVAL when n is odd
 * or a character is not a hex digit. */
int yw_hex_decode(const char *in, size_t n, uint8_t *out);

/* Compares two NUL-terminated strings in time independent of where they differ.
 * Returns 1 when equal. */
int yw_secure_equal(const char *a, const char *b);

/* ---- passwords ------------------------------------------------------------------- */

/* argon2id encoded hash ("$argon2id$v=19$m=...") of password into out (room for 128
 * bytes), with a random salt; t=3, m=64 MiB, p=1 unless YW_ARGON2_FAST is set in the
 * environment of a test build (yw_password_fast_allowed), which uses m=1 MiB. Returns 0
 * or YW_EINTERNAL. */
int yw_password_hash(const char *password, char *out, size_t size);

/* 1 when this build was made with the CMake option YW_TEST_HASHING (the tests' build),
 * where YW_ARGON2_FAST has effect; 0 in the default build, which ignores it. */
int yw_password_fast_allowed(void);

/* 1 when password matches the encoded hash, 0 otherwise (including a malformed hash). */
int yw_password_verify(const char *encoded, const char *password);

/* 1 when encoded was not made with the parameters yw_password_hash uses now (an older
 * deployment's, or a test build's weakened ones), so that a login that has just verified
 * the password should store a new hash of it; 0 when it was. */
int yw_password_needs_rehash(const char *encoded);

/* ---- randomness ------------------------------------------------------------------ */

/* n random bytes from the OS CSPRNG as URL-safe base64 without padding into out
 * (room for 4*ceil(n/3)+1). Returns 0 or YW_EINTERNAL. */
int yw_random_token(size_t n, char *out, size_t size);

/* A uniformly random decimal code of digits characters (e.g. 6 for SMS) into out.
 * Returns 0 or YW_EINTERNAL. */
int yw_random_digits(int digits, char *out, size_t size);

#endif
