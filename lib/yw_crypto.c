/*
 * yw_crypto.c - check digits, masking, AES-256-GCM at rest, HMAC lookups, argon2id
 * passwords and random tokens, on OpenSSL 3 and libargon2.
 *
 * Design notes: every output goes into a caller's buffer with its size and is always
 * NUL-terminated; nothing here allocates except inside OpenSSL; comparison of secrets
 * is constant-time (CRYPTO_memcmp). Random numbers come from RAND_bytes only.
 *
 * Offers: yw_key_from_hex, yw_id_card_valid, yw_uscc_valid, yw_phone_valid,
 * yw_mask_id_card, yw_mask_phone, yw_mask_name, yw_encrypt, yw_decrypt, yw_hmac_hex,
 * yw_sha256_hex, yw_hex_encode, yw_hex_decode, yw_secure_equal, yw_password_hash, yw_password_verify,
 * yw_password_fast_allowed,
 * yw_random_token, yw_random_digits.
 */
#include "yw_crypto.h"

#include <argon2.h>
#include <ctype.h>
#include <pthread.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yw_err.h"

#define GCM_NONCE 12
#define GCM_TAG 16

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void yw_hex_encode(const uint8_t *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

int yw_hex_decode(const char *in, size_t n, uint8_t *out) {
  if (n % 2 != 0) return YW_EINVAL;
  for (size_t i = 0; i < n; i += 2) {
    int hi = hexval((unsigned char)in[i]), lo = hexval((unsigned char)in[i + 1]);
    if (hi < 0 || lo < 0) return YW_EINVAL;
    out[i / 2] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}


static int from_hex(const char *hex, size_t n, uint8_t *out) {
  for (size_t i = 0; i < n; i++) {
    int h = hexval((unsigned char)hex[2 * i]), l = hexval((unsigned char)hex[2 * i + 1]);
    if (h < 0 || l < 0) return YW_EINVAL;
    out[i] = (uint8_t)(h * 16 + l);
  }
  return 0;
}

int yw_key_from_hex(const char *hex, uint8_t key[YW_KEY_BYTES]) {
  if (hex == NULL || strlen(hex) != 2 * YW_KEY_BYTES) return YW_EINVAL;
  return from_hex(hex, YW_KEY_BYTES, key);
}

/* ---- national identifiers -------------------------------------------------------- */

static int days_in_month(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return d[m - 1];
}

int yw_id_card_valid(const char *id) {
  static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static const char check[] = "10X98765432";
  if (id == NULL || strlen(id) != 18) return 0;
  int sum = 0;
  for (int i = 0; i < 17; i++) {
    if (!isdigit((unsigned char)id[i])) return 0;
    sum += (id[i] - '0') * w[i];
  }
  char c = (char)toupper((unsigned char)id[17]);
  if (c != check[sum % 11]) return 0;
  int y = 0, m = 0, d = 0;
  for (int i = 6; i < 10; i++) y = y * 10 + (id[i] - '0');
  m = (id[10] - '0') * 10 + (id[11] - '0');
  d = (id[12] - '0') * 10 + (id[13] - '0');
  if (y < 1900 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return 0;
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  long today = (long)(tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
  return (long)y * 10000 + m * 100 + d <= today;
}

int yw_uscc_valid(const char *code) {
  static const char chars[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  static const int w[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
  if (code == NULL || strlen(code) != 18) return 0;
  int sum = 0;
  for (int i = 0; i < 18; i++) {
    const char *p = code[i] != '\0' ? strchr(chars, code[i]) : NULL;
    if (p == NULL) return 0;
    if (i < 17) sum += (int)(p - chars) * w[i];
  }
  int c = 31 - sum % 31;
  if (c == 31) c = 0;
  return code[17] == chars[c];
}

int yw_phone_valid(const char *phone) {
  if (phone == NULL || strlen(phone) != 11 || strspn(phone, "0123456789") != 11) return 0;
  return phone[0] == '1' && phone[1] >= '3' && phone[1] <= '9';
}

/* ---- masking --------------------------------------------------------------------- */

/* Keeps the first keep_head and last keep_tail bytes, stars in between. */
static char *mask_middle(const char *s, size_t keep_head, size_t keep_tail, char *out,
                         size_t size) {
  if (size == 0) return out;
  size_t n = strlen(s);
  if (n <= keep_head + keep_tail) keep_head = 0;
  if (n <= keep_tail) keep_tail = 0;
  size_t o = 0;
  for (size_t i = 0; i < n && o + 1 < size; i++)
    out[o++] = i < keep_head || i >= n - keep_tail ? s[i] : '*';
  out[o] = '\0';
  return out;
}

char *yw_mask_id_card(const char *id, char *out, size_t size) {
  if (strlen(id) == 18) return mask_middle(id, 4, 4, out, size);
  return mask_middle(id, 0, strlen(id) > 4 ? 4 : 0, out, size);
}

char *yw_mask_phone(const char *phone, char *out, size_t size) {
  if (strlen(phone) == 11) return mask_middle(phone, 3, 4, out, size);
  return mask_middle(phone, 0, strlen(phone) > 4 ? 4 : 0, out, size);
}

char *yw_mask_name(const char *name, char *out, size_t size) {
  if (size == 0) return out;
  /* skip the first UTF-8 character: its lead byte and continuation bytes */
  const unsigned char *p = (const unsigned char *)name;
  if (*p != '\0') {
    p++;
    while ((*p & 0xC0) == 0x80) p++;
  }
  int n = snprintf(out, size, "%s%s", name[0] != '\0' ? "*" : "", (const char *)p);
  if (n >= 0 && (size_t)n >= size) {
    /* cut on a character boundary */
    size_t o = size - 1;
    while (o > 0 && ((unsigned char)out[o] & 0xC0) == 0x80) o--;
    out[o] = '\0';
  }
  return out;
}

/* ---- AES-256-GCM ----------------------------------------------------------------- */

int yw_encrypt(const uint8_t key[YW_KEY_BYTES], const char *plain, size_t len, const char *aad,
               char *out, size_t size) {
  size_t raw_len = GCM_NONCE + len + GCM_TAG;
  if (size < 2 * raw_len + 1) return YW_ETOOBIG;
  uint8_t *raw = malloc(raw_len);
  if (raw == NULL) return YW_ENOMEM;
  int rc = YW_EINTERNAL, n = 0;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL || RAND_bytes(raw, GCM_NONCE) != 1) goto out;
  if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) != 1) goto out;
  if (aad != NULL && EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) != 1)
    goto out;
  if (EVP_EncryptUpdate(ctx, raw + GCM_NONCE, &n, (const uint8_t *)plain, (int)len) != 1) goto out;
  if (EVP_EncryptFinal_ex(ctx, raw + GCM_NONCE + n, &n) != 1) goto out;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG, raw + GCM_NONCE + len) != 1) goto out;
  yw_hex_encode(raw, raw_len, out);
  rc = 0;
out:
  EVP_CIPHER_CTX_free(ctx);
  OPENSSL_cleanse(raw, raw_len);
  free(raw);
  return rc;
}

int yw_decrypt(const uint8_t key[YW_KEY_BYTES], const char *hex, const char *aad, char *out,
               size_t size) {
  size_t hlen = strlen(hex);
  if (hlen % 2 != 0 || hlen / 2 < GCM_NONCE + GCM_TAG) return YW_EINVAL;
  size_t raw_len = hlen / 2, len = raw_len - GCM_NONCE - GCM_TAG;
  if (size < len + 1) return YW_ETOOBIG;
  uint8_t *raw = malloc(raw_len);
  if (raw == NULL) return YW_ENOMEM;
  int rc = YW_EINVAL, n = 0;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL || from_hex(hex, raw_len, raw) != 0) goto out;
  if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) != 1) goto out;
  if (aad != NULL && EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) != 1)
    goto out;
  if (EVP_DecryptUpdate(ctx, (uint8_t *)out, &n, raw + GCM_NONCE, (int)len) != 1) goto out;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG, raw + GCM_NONCE + len) != 1) goto out;
  if (EVP_DecryptFinal_ex(ctx, (uint8_t *)out + n, &n) != 1) { /* tag mismatch */
    OPENSSL_cleanse(out, len);
    goto out;
  }
  out[len] = '\0';
  rc = 0;
out:
  EVP_CIPHER_CTX_free(ctx);
  free(raw);
  if (rc != 0 && size > 0) out[0] = '\0';
  return rc;
}

/* ---- hashes ---------------------------------------------------------------------- */

/* Each thread keeps one HMAC-SHA256 context keyed with the last key it used: a caller
 * signature or a lookup hash is computed on every request, and setting a context up
 * (fetching the algorithm, hashing the key into the pads) costs more than the MAC of a
 * short text. The same key again only resets the context. A context whose key is
 * replaced or whose thread ends is freed and its key wiped. */
struct hmac_cache {
  EVP_MAC_CTX *ctx;
  uint8_t key[YW_KEY_BYTES];
};
static _Thread_local struct hmac_cache hmac_cache;
static pthread_key_t hmac_cache_key;
static pthread_once_t hmac_cache_once = PTHREAD_ONCE_INIT;

static void hmac_cache_end(void *p) {
  struct hmac_cache *c = p;
  EVP_MAC_CTX_free(c->ctx);
  c->ctx = NULL;
  OPENSSL_cleanse(c->key, sizeof c->key);
}
static void hmac_cache_setup(void) { (void)pthread_key_create(&hmac_cache_key, hmac_cache_end); }

static EVP_MAC_CTX *hmac_ctx(const uint8_t key[YW_KEY_BYTES]) {
  struct hmac_cache *c = &hmac_cache;
  if (c->ctx != NULL && CRYPTO_memcmp(c->key, key, YW_KEY_BYTES) == 0)
    return EVP_MAC_init(c->ctx, NULL, 0, NULL) == 1 ? c->ctx : NULL;
  hmac_cache_end(c);
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (mac == NULL) return NULL;
  c->ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                         OSSL_PARAM_construct_end()};
  if (c->ctx == NULL || EVP_MAC_init(c->ctx, key, YW_KEY_BYTES, params) != 1) {
    hmac_cache_end(c);
    return NULL;
  }
  memcpy(c->key, key, YW_KEY_BYTES);
  (void)pthread_once(&hmac_cache_once, hmac_cache_setup);
  (void)pthread_setspecific(hmac_cache_key, c); /* frees it when the thread ends */
  return c->ctx;
}

void yw_hmac_hex(const uint8_t key[YW_KEY_BYTES], const void *data, size_t len, char out[65]) {
  uint8_t mac[32];
  size_t mlen = 0;
  EVP_MAC_CTX *ctx = hmac_ctx(key);
  if (ctx == NULL || EVP_MAC_update(ctx, data, len) != 1 ||
      EVP_MAC_final(ctx, mac, &mlen, sizeof mac) != 1 || mlen != sizeof mac) {
    /* no context (out of memory): the one-shot form, which needs none kept */
    unsigned int n = 0;
    HMAC(EVP_sha256(), key, YW_KEY_BYTES, data, len, mac, &n);
  }
  yw_hex_encode(mac, 32, out);
  OPENSSL_cleanse(mac, sizeof mac);
}

void yw_sha256_hex(const void *data, size_t len, char out[65]) {
  uint8_t md[32];
  unsigned int mlen = 0;
  EVP_Digest(data, len, md, &mlen, EVP_sha256(), NULL);
  yw_hex_encode(md, 32, out);
}

int yw_secure_equal(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  /* compare the whole of a against b (or itself) so timing does not reveal where */
  int same = CRYPTO_memcmp(a, la == lb ? b : a, la) == 0;
  return same && la == lb;
}

/* ---- passwords ------------------------------------------------------------------- */

/* YW_ARGON2_FAST weakens hashing 64x for tests; it has effect only in a build made with
 * the CMake option YW_TEST_HASHING (the tests' build), never in the default one. */
#ifdef YW_TEST_HASHING
#define FAST_ALLOWED 1
#else
#define FAST_ALLOWED 0
#endif

int yw_password_fast_allowed(void) { return FAST_ALLOWED; }

#define ARGON2_T 3
#define ARGON2_P 1

static uint32_t argon2_m_kib(void) {
  return FAST_ALLOWED && getenv("YW_ARGON2_FAST") != NULL ? 1024 : 65536;
}

int yw_password_hash(const char *password, char *out, size_t size) {
  uint8_t salt[16];
  if (RAND_bytes(salt, sizeof salt) != 1) return YW_EINTERNAL;
  int rc = argon2id_hash_encoded(ARGON2_T, argon2_m_kib(), ARGON2_P, password, strlen(password),
                                 salt, sizeof salt, 32, out, size);
  return rc == ARGON2_OK ? 0 : YW_EINTERNAL;
}

int yw_password_needs_rehash(const char *encoded) {
  char want[64];
  snprintf(want, sizeof want, "$argon2id$v=%d$m=%u,t=%d,p=%d$", ARGON2_VERSION_13,
           (unsigned)argon2_m_kib(), ARGON2_T, ARGON2_P);
  return encoded == NULL || strncmp(encoded, want, strlen(want)) != 0;
}

int yw_password_verify(const char *encoded, const char *password) {
  if (encoded == NULL || strncmp(encoded, "$argon2id$", 10) != 0) return 0;
  return argon2id_verify(encoded, password, strlen(password)) == ARGON2_OK;
}

/* ---- randomness ------------------------------------------------------------------ */

int yw_random_token(size_t n, char *out, size_t size) {
  static const char b64url[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  if (n == 0 || n > 256 || size < (n + 2) / 3 * 4 + 1) return YW_ETOOBIG;
  uint8_t buf[256];
  if (RAND_bytes(buf, (int)n) != 1) return YW_EINTERNAL;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)buf[i] << 16;
    if (i + 1 < n) v |= (unsigned)buf[i + 1] << 8;
    if (i + 2 < n) v |= buf[i + 2];
    out[o++] = b64url[(v >> 18) & 63];
    out[o++] = b64url[(v >> 12) & 63];
    if (i + 1 < n) out[o++] = b64url[(v >> 6) & 63];
    if (i + 2 < n) out[o++] = b64url[v & 63];
  }
  out[o] = '\0';
  OPENSSL_cleanse(buf, sizeof buf);
  return 0;
}

int yw_random_digits(int digits, char *out, size_t size) {
  if (digits <= 0 || (size_t)digits + 1 > size) return YW_ETOOBIG;
  for (int i = 0; i < digits; i++) {
    uint8_t b;
    do { /* 250 = 25 * 10: bytes above it would favour low digits */
      if (RAND_bytes(&b, 1) != 1) return YW_EINTERNAL;
    } while (b >= 250);
    out[i] = (char)('0' + b % 10);
  }
  out[digits] = '\0';
  return 0;
}
