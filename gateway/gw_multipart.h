/*
 * gw_multipart.h - a streaming multipart/form-data parser (RFC 7578 over RFC 2046's
 * multipart syntax), as mini-programs' wx.uploadFile and browsers' forms send it.
 *
 * Streaming: bytes are fed in pieces of any size; a delimiter split across pieces is
 * found all the same, and part data is handed out as it comes (pointers into the fed
 * bytes, or into the parser's own copy of the delimiter for the bytes it held back
 * while they might have begun one), never gathered. Memory is the parser struct: a
 * part's header block is kept up to GW_MP_HEADER_MAX bytes, nothing else.
 *
 * Back-pressure: a callback returning GW_MP_PAUSE stops gw_multipart_feed after what
 * it has handed out; feed returns how many bytes it consumed, and the caller feeds the
 * rest later. Data handed to the data callback stays valid only while the fed buffer
 * does (or for good, when it is the delimiter's held-back prefix).
 *
 * What is refused (GW_MP_EBAD): a boundary that RFC 2046 does not allow, a part
 * without `content-disposition: form-data; name="..."`, malformed header lines, bytes
 * other than padding after a delimiter, a body that ends before the closing delimiter
 * (gw_multipart_finish). GW_MP_ETOOBIG: a part's headers past GW_MP_HEADER_MAX, more
 * than max_parts parts. Bytes before the first delimiter (preamble) and after the last
 * (epilogue) are ignored, as RFC 2046 says.
 */
#ifndef GW_MULTIPART_H
#define GW_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define GW_MP_BOUNDARY_MAX 70 /* RFC 2046 */
#define GW_MP_HEADER_MAX 4096 /* one part's header block */
#define GW_MP_PAUSE 1

enum gw_mp_err {
  GW_MP_EBAD = -1,    /* malformed */
  GW_MP_ETOOBIG = -2, /* headers too large, too many parts */
};

/* A part's headers, NUL-terminated. */
typedef struct gw_mp_part {
  char name[128];         /* the form field's name */
  char filename[256];     /* the file's name as sent ("" when none) */
  int has_filename;       /* filename="..." was present: the part is a file */
  char content_type[128]; /* the part's content-type ("" when none) */
} gw_mp_part;

/* Each returns 0 to go on, GW_MP_PAUSE to stop feeding after this call, or a negative
 * value to abort (feed then returns it). */
typedef struct gw_mp_callbacks {
  int (*part_begin)(void *arg, const gw_mp_part *part);
  int (*part_data)(void *arg, const uint8_t *data, size_t len);
  int (*part_end)(void *arg);
} gw_mp_callbacks;

typedef struct gw_multipart {
  gw_mp_callbacks cb;
  void *arg;
  char delim[GW_MP_BOUNDARY_MAX + 5]; /* "\r\n--" boundary */
  size_t dlen;
  size_t matched;   /* bytes of delim matched so far */
  int state;
  int in_part;
  int parts, max_parts;
  gw_mp_part part;
  char hbuf[GW_MP_HEADER_MAX];
  size_t hlen;
} gw_multipart;

/*
 * Reads the boundary from a content-type value ("multipart/form-data; boundary=xyz",
 * quoted or not) into out (GW_MP_BOUNDARY_MAX + 1 bytes). Returns 0, or GW_MP_EBAD
 * when the type is not multipart/form-data or the boundary is missing or not allowed.
 */
int gw_multipart_boundary(const char *content_type, char *out);

/* Prepares m for a body with boundary (from gw_multipart_boundary). Returns 0 or
 * GW_MP_EBAD. */
int gw_multipart_init(gw_multipart *m, const char *boundary, int max_parts,
                      const gw_mp_callbacks *cb, void *arg);

/*
 * Parses data[0..len). Returns the bytes consumed (len unless a callback paused), or a
 * negative code: GW_MP_EBAD, GW_MP_ETOOBIG, or a callback's own negative value. After
 * an error m must not be fed again.
 */
long gw_multipart_feed(gw_multipart *m, const uint8_t *data, size_t len);

/* The body has ended: 0 when the closing delimiter was seen, else GW_MP_EBAD. */
int gw_multipart_finish(const gw_multipart *m);

#endif
