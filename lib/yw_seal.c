/*
 * yw_seal.c - SM2/SM3 seals over canonical records (see yw_seal.h), on OpenSSL 3's EVP
 * interface and jansson.
 */
#include "yw_seal.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"

struct yw_seal {
  EVP_PKEY *key;
  int has_private;
};

/* The PEM text of a BIO (malloc'd, NUL-terminated) or NULL. */
static char *bio_text(BIO *b) {
  char *data = NULL;
  long n = BIO_get_mem_data(b, &data);
  if (n <= 0) return NULL;
  char *out = malloc((size_t)n + 1);
  if (out == NULL) return NULL;
  memcpy(out, data, (size_t)n);
  out[n] = '\0';
  return out;
}

static int is_sm2(const EVP_PKEY *k) { return EVP_PKEY_is_a(k, "SM2"); }

int yw_seal_generate(char **private_pem, char **public_pem) {
  *private_pem = *public_pem = NULL;
  EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
  if (k == NULL) return YW_EINTERNAL;
  BIO *priv = BIO_new(BIO_s_mem()), *pub = BIO_new(BIO_s_mem());
  int rc = YW_ENOMEM;
  if (priv != NULL && pub != NULL &&
      PEM_write_bio_PrivateKey(priv, k, NULL, NULL, 0, NULL, NULL) == 1 &&
      PEM_write_bio_PUBKEY(pub, k) == 1) {
    *private_pem = bio_text(priv);
    *public_pem = bio_text(pub);
    rc = *private_pem != NULL && *public_pem != NULL ? 0 : YW_ENOMEM;
  }
  if (rc != 0) {
    if (*private_pem != NULL) OPENSSL_cleanse(*private_pem, strlen(*private_pem));
    free(*private_pem);
    free(*public_pem);
    *private_pem = *public_pem = NULL;
  }
  BIO_free(priv); /* the memory BIO's copy of the key is cleared as it is freed */
  BIO_free(pub);
  EVP_PKEY_free(k);
  return rc;
}

int yw_seal_from_pem(const char *pem, size_t len, yw_seal **out) {
  *out = NULL;
  if (pem == NULL || len == 0 || len > 64 * 1024) return YW_EINVAL;
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  if (b == NULL) return YW_ENOMEM;
  int has_private = 1;
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  if (k == NULL) {
    has_private = 0;
    BIO_free(b);
    b = BIO_new_mem_buf(pem, (int)len);
    if (b == NULL) return YW_ENOMEM;
    k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
  }
  BIO_free(b);
  if (k == NULL || !is_sm2(k)) {
    EVP_PKEY_free(k);
    return YW_EINVAL;
  }
  yw_seal *s = calloc(1, sizeof *s);
  if (s == NULL) {
    EVP_PKEY_free(k);
    return YW_ENOMEM;
  }
  s->key = k;
  s->has_private = has_private;
  *out = s;
  return 0;
}

int yw_seal_public_pem(const yw_seal *s, char **out) {
  *out = NULL;
  BIO *b = BIO_new(BIO_s_mem());
  if (b == NULL) return YW_ENOMEM;
  int rc = PEM_write_bio_PUBKEY(b, s->key) == 1 ? 0 : YW_EINTERNAL;
  if (rc == 0 && (*out = bio_text(b)) == NULL) rc = YW_ENOMEM;
  BIO_free(b);
  return rc;
}

void yw_seal_free(yw_seal *s) {
  if (s == NULL) return;
  EVP_PKEY_free(s->key);
  free(s);
}

/* A digest-sign or -verify context for s with the seal's id and SM3; NULL on failure. */
static EVP_MD_CTX *seal_ctx(const yw_seal *s, int sign) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pk = EVP_PKEY_CTX_new_from_pkey(NULL, s->key, NULL);
  if (md == NULL || pk == NULL ||
      EVP_PKEY_CTX_set1_id(pk, YW_SEAL_ID, sizeof YW_SEAL_ID - 1) <= 0)
    goto fail;
  EVP_MD_CTX_set_pkey_ctx(md, pk); /* md does not own pk: freed after md */
  int ok = sign ? EVP_DigestSignInit_ex(md, NULL, "SM3", NULL, NULL, s->key, NULL)
                : EVP_DigestVerifyInit_ex(md, NULL, "SM3", NULL, NULL, s->key, NULL);
  if (ok != 1) goto fail;
  return md;
fail:
  EVP_MD_CTX_free(md);
  EVP_PKEY_CTX_free(pk);
  return NULL;
}

static void seal_ctx_free(EVP_MD_CTX *md) {
  if (md == NULL) return;
  EVP_PKEY_CTX *pk = EVP_MD_CTX_get_pkey_ctx(md);
  EVP_MD_CTX_free(md);
  EVP_PKEY_CTX_free(pk);
}

int yw_seal_sign(const yw_seal *s, const void *data, size_t len, char *sig, size_t size) {
  if (s == NULL || !s->has_private || sig == NULL || size < YW_SEAL_SIG_MAX) return YW_EINVAL;
  sig[0] = '\0';
  EVP_MD_CTX *md = seal_ctx(s, 1);
  if (md == NULL) return YW_EINTERNAL;
  unsigned char der[80];
  size_t n = sizeof der;
  int ok = EVP_DigestSign(md, der, &n, data, len) == 1;
  seal_ctx_free(md);
  if (!ok) return YW_EINTERNAL;
  EVP_EncodeBlock((unsigned char *)sig, der, (int)n); /* 4 * ceil(72 / 3) + 1 fits */
  return 0;
}

int yw_seal_verify(const yw_seal *s, const void *data, size_t len, const char *sig) {
  if (s == NULL || sig == NULL) return YW_EINVAL;
  size_t sl = strlen(sig);
  if (sl == 0 || sl % 4 != 0 || sl > YW_SEAL_SIG_MAX - 1) return YW_EINVAL;
  unsigned char der[YW_SEAL_SIG_MAX];
  int n = EVP_DecodeBlock(der, (const unsigned char *)sig, (int)sl);
  if (n <= 0) return YW_EINVAL;
  /* EVP_DecodeBlock counts the padding's zero bytes: take them off */
  if (sl >= 1 && sig[sl - 1] == '=') n--;
  if (sl >= 2 && sig[sl - 2] == '=') n--;
  EVP_MD_CTX *md = seal_ctx(s, 0);
  if (md == NULL) return YW_EINVAL;
  int ok = EVP_DigestVerify(md, der, (size_t)n, data, len) == 1;
  seal_ctx_free(md);
  return ok ? 0 : YW_EINVAL;
}

int yw_seal_canonical_json(const char *json, size_t len, char **out) {
  *out = NULL;
  json_error_t e;
  json_t *v = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
  if (v == NULL || !json_is_object(v)) {
    json_decref(v);
    return YW_EINVAL;
  }
  *out = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(v);
  return *out != NULL ? 0 : YW_ENOMEM;
}
