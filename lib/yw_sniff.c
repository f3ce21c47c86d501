/*
 * yw_sniff.c - file types from magic numbers (see yw_sniff.h for the table and why it
 * is our own rather than libmagic).
 *
 * Offers: yw_sniff, yw_sniff_resolve, yw_sniff_allowed, yw_sniff_agrees.
 */
#include "yw_sniff.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char OCTET[] = "application/octet-stream";
static const char ZIP[] = "application/zip";

typedef struct magic {
  size_t at;
  const char *bytes;
  size_t len;
  const char *type;
} magic;

static const magic table[] = {
    {0, "\xFF\xD8\xFF", 3, "image/jpeg"},
    {0, "\x89PNG\r\n\x1A\n", 8, "image/png"},
    {0, "GIF87a", 6, "image/gif"},
    {0, "GIF89a", 6, "image/gif"},
    {0, "%PDF-", 5, "application/pdf"},
    {0, "PK\x03\x04", 4, ZIP},
    {0, "PK\x05\x06", 4, ZIP},
};

/* Zip-based formats a zip may be declared as. */
static const char *const zip_based[] = {
    "application/ofd",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/x-zip-compressed",
};

const char *yw_sniff(const uint8_t *head, size_t len) {
  if (head == NULL) return OCTET;
  if (len >= 12 && memcmp(head, "RIFF", 4) == 0 && memcmp(head + 8, "WEBP", 4) == 0)
    return "image/webp";
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    const magic *m = &table[i];
    if (len >= m->at + m->len && memcmp(head + m->at, m->bytes, m->len) == 0) return m->type;
  }
  return OCTET;
}

/* The media type of a content-type value, lower case, without parameters or spaces. */
static void media_type(const char *v, char *out, size_t size) {
  size_t o = 0;
  if (v != NULL) {
    while (*v == ' ' || *v == '\t') v++;
    for (; *v != '\0' && *v != ';' && *v != ' ' && *v != '\t' && o + 1 < size; v++)
      out[o++] = (char)tolower((unsigned char)*v);
  }
  out[o] = '\0';
}

static int is_zip_based(const char *t) {
  for (size_t i = 0; i < sizeof zip_based / sizeof zip_based[0]; i++)
    if (strcmp(t, zip_based[i]) == 0) return 1;
  return 0;
}

const char *yw_sniff_resolve(const char *sniffed, const char *declared, char *out, size_t size) {
  if (sniffed == NULL) return OCTET;
  if (strcmp(sniffed, ZIP) != 0 || size == 0) return sniffed;
  media_type(declared, out, size);
  return is_zip_based(out) && strcmp(out, "application/x-zip-compressed") != 0 ? out : ZIP;
}

int yw_sniff_agrees(const char *sniffed, const char *declared) {
  char d[128];
  media_type(declared, d, sizeof d);
  if (d[0] == '\0' || strcmp(d, OCTET) == 0) return 1;
  if (strcmp(d, "image/jpg") == 0 || strcmp(d, "image/pjpeg") == 0) return strcmp(sniffed, "image/jpeg") == 0;
  if (strcmp(sniffed, ZIP) == 0 && is_zip_based(d)) return 1;
  return strcmp(d, sniffed) == 0;
}

int yw_sniff_allowed(const char *type, const char *allowed) {
  if (type == NULL) return 0;
  if (allowed == NULL || allowed[0] == '\0') return strcmp(type, OCTET) != 0;
  size_t tlen = strlen(type);
  const char *slash = strchr(type, '/');
  size_t major = slash != NULL ? (size_t)(slash - type) : tlen;
  const char *p = allowed;
  while (*p != '\0') {
    while (*p == ' ' || *p == ',') p++;
    size_t n = strcspn(p, ", ");
    if (n == 0) break;
    if (n == tlen && strncmp(p, type, n) == 0) return 1;
    /* a wildcard subtype: image/ and a star */
    if (n == major + 2 && strncmp(p, type, major) == 0 && p[major] == '/' && p[major + 1] == '*')
      return 1;
    if (n == 3 && strncmp(p, "*/*", 3) == 0) return 1;
    p += n;
  }
  return 0;
}
