/* yw_embed.h - files embedded into a binary by tools/yw_embed.c (SQL migrations). */
#ifndef YW_EMBED_H
#define YW_EMBED_H

struct yw_embedded_file {
  const char *name; /* base name, e.g. "001_catalog.sql"; entries are in argument order */
  const char *text; /* NUL-terminated contents */
};

#endif
