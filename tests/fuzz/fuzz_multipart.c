/*
 * fuzz_multipart.c - gateway/gw_multipart.c, the streaming multipart/form-data parser
 * of the upload phase, on any body and any read sizes.
 *
 * Input: the first byte picks the read size (1 to 256 bytes; 0: the whole body at
 * once), the second whether callbacks pause; the boundary is "b0undary"; the rest is
 * the body. Properties: fed in pieces, with or without pauses, the parser hands out
 * exactly the same parts, headers and bytes and ends with the same result as when fed
 * the whole body at once; it consumes no more than it is given and always makes
 * progress without pauses; data handed out lies inside the fed buffer or the
 * delimiter; a part's data never contains the delimiter; nothing is read or written
 * outside the buffers.
 */
#include <string.h>

#include "fuzz.h"
#include "gw_multipart.h"

#define LOG_MAX (1u << 21)

typedef struct seen {
  uint8_t *log;
  size_t len;
  int pause;
  const uint8_t *buf; /* the piece being fed */
  size_t buf_len;
  const gw_multipart *m;
  uint8_t tail[GW_MP_BOUNDARY_MAX + 8]; /* the last bytes of the current part's data */
  size_t tail_len;
} seen;

static void add(seen *s, const void *d, size_t n) {
  if (s->len + n > LOG_MAX) n = LOG_MAX - s->len;
  memcpy(s->log + s->len, d, n);
  s->len += n;
}

static int on_begin(void *arg, const gw_mp_part *p) {
  seen *s = arg;
  FUZZ_CHECK(p->name[0] != '\0' && strlen(p->name) < sizeof p->name);
  add(s, "\1", 1);
  add(s, p, sizeof *p);
  s->tail_len = 0;
  return s->pause ? GW_MP_PAUSE : 0;
}

static int on_data(void *arg, const uint8_t *d, size_t n) {
  seen *s = arg;
  int in_buf = d >= s->buf && d + n <= s->buf + s->buf_len;
  int in_delim = (const char *)d >= s->m->delim && (const char *)d + n <= s->m->delim + s->m->dlen;
  FUZZ_CHECK(n > 0 && (in_buf || in_delim));
  add(s, d, n); /* no mark: pieces cut data into other callbacks, the bytes are the same */
  /* the delimiter never shows up inside a part's data, across pieces too */
  uint8_t win[2 * (GW_MP_BOUNDARY_MAX + 8)];
  size_t k = n < GW_MP_BOUNDARY_MAX + 8 ? n : GW_MP_BOUNDARY_MAX + 8;
  memcpy(win, s->tail, s->tail_len);
  memcpy(win + s->tail_len, d + n - k, k);
  size_t wl = s->tail_len + k;
  if (k == n)
    FUZZ_CHECK(memmem(win, wl, s->m->delim, s->m->dlen) == NULL);
  else
    FUZZ_CHECK(memmem(d, n, s->m->delim, s->m->dlen) == NULL);
  size_t keep = wl < s->m->dlen ? wl : s->m->dlen;
  memmove(s->tail, win + wl - keep, keep);
  s->tail_len = keep;
  return s->pause ? GW_MP_PAUSE : 0;
}

static int on_end(void *arg) {
  seen *s = arg;
  add(s, "\3", 1);
  return s->pause ? GW_MP_PAUSE : 0;
}

static const gw_mp_callbacks cbs = {on_begin, on_data, on_end};

/* Feeds body in pieces of step bytes (0: whole); returns the final code. */
static int run(const uint8_t *body, size_t len, size_t step, int pause, seen *s) {
  gw_multipart *m = malloc(sizeof *m);
  FUZZ_CHECK(m != NULL);
  s->len = 0;
  s->pause = pause;
  s->m = m;
  s->tail_len = 0;
  FUZZ_CHECK(gw_multipart_init(m, "b0undary", 8, &cbs, s) == 0);
  int rc = 0;
  size_t at = 0;
  while (at < len) {
    size_t n = step == 0 || len - at < step ? len - at : step;
    /* each piece in a buffer of its own exact size, as reads arrive */
    uint8_t *piece = malloc(n);
    FUZZ_CHECK(piece != NULL);
    memcpy(piece, body + at, n);
    size_t off = 0;
    while (off < n) {
      s->buf = piece + off; /* what this feed may hand out from */
      s->buf_len = n - off;
      long got = gw_multipart_feed(m, piece + off, n - off);
      if (got < 0) {
        rc = (int)got;
        break;
      }
      FUZZ_CHECK((size_t)got <= n - off);
      FUZZ_CHECK(got > 0 || pause);
      off += (size_t)got;
    }
    free(piece);
    if (rc != 0) break;
    at += n;
  }
  if (rc == 0) rc = gw_multipart_finish(m);
  free(m);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2 || size > (1u << 18)) return 0;
  size_t step = data[0];
  int pause = data[1] & 1;
  const uint8_t *body = data + 2;
  size_t len = size - 2;
  seen a = {.log = malloc(LOG_MAX)}, b = {.log = malloc(LOG_MAX)};
  FUZZ_CHECK(a.log != NULL && b.log != NULL);
  int ra = run(body, len, 0, 0, &a);
  int rb = run(body, len, step, pause, &b);
  /* the same outcome; on success the same parts and bytes (on an error the pieces may
   * have handed out a different amount before it) */
  FUZZ_CHECK(ra == rb);
  if (ra == 0) FUZZ_CHECK(a.len == b.len && memcmp(a.log, b.log, a.len) == 0);
  free(a.log);
  free(b.log);
  return 0;
}
