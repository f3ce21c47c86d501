/*
 * yw_sniff.h - the type of a file from its first bytes (magic numbers), for the file
 * store and the gateway's upload phase, which must agree on it.
 *
 * A small table of the types a government service accepts as materials, not libmagic:
 * the answer must not depend on a system database that changes with the machine, and
 * the gateway refuses a part from its first bytes before anything is stored.
 *
 *   image/jpeg  FF D8 FF
 *   image/png   89 50 4E 47 0D 0A 1A 0A
 *   image/gif   "GIF87a" or "GIF89a"
 *   image/webp  "RIFF" <4 bytes> "WEBP"
 *   application/pdf  "%PDF-"
 *   application/zip  "PK\3\4" or "PK\5\6" (an empty archive); zip-based formats
 *       (OFD, docx, xlsx) cannot be told apart from their first bytes: a zip declared
 *       as one of them takes the declared type (yw_sniff_resolve)
 *
 * Anything else is application/octet-stream.
 */
#ifndef YW_SNIFF_H
#define YW_SNIFF_H

#include <stddef.h>
#include <stdint.h>

/* Bytes yw_sniff needs to decide: fewer is fine when the file is shorter. */
#define YW_SNIFF_BYTES 16

/* The type of a file starting with head[0..len): one of the table's, or
 * "application/octet-stream". Never NULL (static strings). */
const char *yw_sniff(const uint8_t *head, size_t len);

/*
 * The type a file is stored under: the sniffed type, except that a zip declared as a
 * zip-based format (application/ofd, the OOXML types of docx/xlsx/pptx) keeps the
 * declared type. declared may be NULL or "" (parameters after ';' are ignored).
 * Returns a static string or declared's own text in out (size bytes, at least 128).
 */
const char *yw_sniff_resolve(const char *sniffed, const char *declared, char *out, size_t size);

/*
 * Whether type is in allowed, a comma-separated list ("image/jpeg,image/png,
 * application/pdf"; "image/" followed by a star allows every image type). NULL or "" allows every type
 * but application/octet-stream (an unknown type is never accepted by default).
 * Returns 1 or 0.
 */
int yw_sniff_allowed(const char *type, const char *allowed);

/*
 * Whether a declared type (the client's content-type of a part, or "") agrees with the
 * sniffed one: empty or application/octet-stream declare nothing; otherwise the same
 * type (image/jpg counts as image/jpeg), or a zip-based type for a zip. Returns 1 or 0.
 */
int yw_sniff_agrees(const char *sniffed, const char *declared);

#endif
