/*
 * yw_config.c - configuration tables: defaults, environment, file override.
 *
 * Offers: yw_config_load, yw_config_print.
 */
#include "yw_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"

static int set_value(const yw_cfg_entry *e, const char *value, char *err, size_t errlen) {
  switch (e->type) {
  case YW_CFG_STR: {
    char *copy = strdup(value);
    if (copy == NULL) return YW_ENOMEM;
    free(*(char **)e->target); /* targets start NULL and hold only our own copies */
    *(char **)e->target = copy;
    return 0;
  }
  case YW_CFG_INT: {
    char *end = NULL;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < e->min || v > e->max) {
      snprintf(err, errlen, "%s=%s: expected an integer in [%ld, %ld]", e->name, value,
               e->min, e->max);
      return YW_EINVAL;
    }
    *(long *)e->target = v;
    return 0;
  }
  case YW_CFG_BOOL:
    if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0 || strcmp(value, "on") == 0) {
      *(int *)e->target = 1;
    } else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 ||
               strcmp(value, "off") == 0) {
      *(int *)e->target = 0;
    } else {
      snprintf(err, errlen, "%s=%s: expected true or false", e->name, value);
      return YW_EINVAL;
    }
    return 0;
  }
  return YW_EINVAL;
}

static const yw_cfg_entry *find(const yw_cfg_entry *t, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(t[i].name, name) == 0) return &t[i];
  return NULL;
}

static int load_file(const yw_cfg_entry *t, size_t n, const char *path, char *err,
                     size_t errlen) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    snprintf(err, errlen, "YW_CONFIG_FILE %s: %s", path, strerror(errno));
    return YW_EINVAL;
  }
  char line[4096];
  int rc = 0;
  unsigned lineno = 0;
  while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
    lineno++;
    line[strcspn(line, "\r\n")] = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '\0' || *p == '#') continue;
    char *eq = strchr(p, '=');
    if (eq == NULL) {
      snprintf(err, errlen, "%s:%u: expected NAME=VALUE", path, lineno);
      rc = YW_EINVAL;
      break;
    }
    *eq = '\0';
    const yw_cfg_entry *e = find(t, n, p);
    if (e == NULL) {
      snprintf(err, errlen, "%s:%u: unknown setting %s", path, lineno, p);
      rc = YW_EINVAL;
      break;
    }
    rc = set_value(e, eq + 1, err, errlen);
  }
  fclose(f);
  return rc;
}

int yw_config_load(const yw_cfg_entry *table, size_t n, char *err, size_t errlen) {
  for (size_t i = 0; i < n; i++) {
    const char *env = getenv(table[i].name);
    int rc = set_value(&table[i], env != NULL ? env : table[i].def, err, errlen);
    if (rc != 0) return rc;
  }
  const char *file = getenv("YW_CONFIG_FILE");
  if (file != NULL && file[0] != '\0') return load_file(table, n, file, err, errlen);
  return 0;
}

void yw_config_print(const yw_cfg_entry *table, size_t n, FILE *out) {
  for (size_t i = 0; i < n; i++) {
    const yw_cfg_entry *e = &table[i];
    fprintf(out, "  %-28s %s (default %s)\n", e->name, e->help, e->def);
  }
}
