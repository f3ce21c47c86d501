/*
 * yw_config.h - one configuration table per process that parses, validates and prints
 * itself (redis static_configs[], PostgreSQL's GUC tables).
 *
 * Sources, later wins: the table's defaults, environment variables (the entry's name,
 * e.g. YW_CATALOG_LISTEN), then the file named by YW_CONFIG_FILE (lines NAME=VALUE,
 * '#' comments). Values are checked against the entry's type and bounds.
 */
#ifndef YW_CONFIG_H
#define YW_CONFIG_H

#include <stddef.h>
#include <stdio.h>

enum yw_cfg_type { YW_CFG_STR, YW_CFG_INT, YW_CFG_BOOL };

typedef struct yw_cfg_entry {
  const char *name;       /* environment variable name */
  enum yw_cfg_type type;
  const char *def;        /* default, as text */
  long min, max;          /* bounds for YW_CFG_INT */
  const char *help;
  /* Where the value goes: char ** (starts NULL; a string owned by the config that a
   * later load replaces and frees),
   * long * (YW_CFG_INT) or int * (YW_CFG_BOOL, 0/1). */
  void *target;
} yw_cfg_entry;

/* Loads the table. Returns 0, or YW_EINVAL with err naming the entry and the problem. */
int yw_config_load(const yw_cfg_entry *table, size_t n, char *err, size_t errlen);

/* Prints name, value, default and help of each entry (for --help and start-up). */
void yw_config_print(const yw_cfg_entry *table, size_t n, FILE *out);

#endif
