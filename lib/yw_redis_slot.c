/*
 * yw_redis_slot.c - Redis Cluster arithmetic shared by both Redis clients: key slots,
 * the routing key of a command, CLUSTER SLOTS maps, MOVED/ASK texts, seed lists.
 *
 * The slot of a key follows the Redis Cluster specification: CRC16/XMODEM of the key,
 * or of its hash tag (the bytes between the first '{' and the first '}' after it, when
 * there is at least one), mod 16384. CRC16 is computed bit by bit: keys are short, and a
 * table would be 512 bytes of state for a few hundred shifts a command.
 *
 * Offers: yw_redis_crc16, yw_redis_key_slot, yw_redis_command_slot, yw_redis_addr_parse,
 * yw_redis_addr_list_parse, yw_redis_cluster_answer, yw_redis_slot_map_parse,
 * yw_redis_redirect_parse.
 */
#include "yw_redis_slot.h"

#include <string.h>
#include <strings.h>

#include "yw_err.h"

uint16_t yw_redis_crc16(const void *buf, size_t len) {
  const unsigned char *p = buf;
  uint16_t crc = 0;
  for (size_t i = 0; i < len; i++) {
    crc ^= (uint16_t)(p[i] << 8);
    for (int b = 0; b < 8; b++)
      crc = (crc & 0x8000) != 0 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
  }
  return crc;
}

int yw_redis_key_slot(const char *key, size_t len) {
  const char *open = memchr(key, '{', len);
  if (open != NULL) {
    size_t from = (size_t)(open - key) + 1;
    const char *close = memchr(key + from, '}', len - from);
    if (close != NULL && close > key + from) {
      key += from;
      len = (size_t)(close - key);
    }
  }
  return yw_redis_crc16(key, len) & (YW_REDIS_SLOTS - 1);
}

static int is(const char *arg, size_t len, const char *name) {
  return strlen(name) == len && strncasecmp(arg, name, len) == 0;
}

/* Commands the project could send that name no key: any node answers them. */
static const char *const KEYLESS[] = {
    "PING",    "ECHO",      "INFO",    "TIME",     "SCRIPT",   "FUNCTION",  "CLUSTER",
    "CONFIG",  "CLIENT",    "COMMAND", "DBSIZE",   "FLUSHALL", "FLUSHDB",   "KEYS",
    "SCAN",    "RANDOMKEY", "PUBLISH", "ASKING",   "READONLY", "READWRITE", "HELLO",
    "AUTH",    "SELECT",    "WAIT",    "LASTSAVE", "SAVE",     "BGSAVE",    "MULTI",
    "EXEC",    "DISCARD",   "QUIT",    "ROLE",     "LOLWUT",   "MEMORY",    "LATENCY",
    "SLOWLOG", "ACL",       "MONITOR", "SHUTDOWN", "DEBUG",    "RESET",
};

int yw_redis_command_slot(int argc, const char **argv, const size_t *argvlen) {
  if (argc < 1) return -1;
#define LEN(i) (argvlen != NULL ? argvlen[i] : strlen(argv[i]))
  const char *cmd = argv[0];
  size_t clen = LEN(0);
  for (size_t i = 0; i < sizeof KEYLESS / sizeof KEYLESS[0]; i++)
    if (is(cmd, clen, KEYLESS[i])) return -1;
  if (is(cmd, clen, "EVAL") || is(cmd, clen, "EVALSHA") || is(cmd, clen, "EVAL_RO") ||
      is(cmd, clen, "EVALSHA_RO") || is(cmd, clen, "FCALL") || is(cmd, clen, "FCALL_RO")) {
    if (argc < 4) return -1;
    /* numkeys: a small decimal; 0 (or anything else) means no key */
    size_t nlen = LEN(2);
    long n = 0;
    for (size_t i = 0; i < nlen && i < 9; i++) {
      if (argv[2][i] < '0' || argv[2][i] > '9') return -1;
      n = n * 10 + (argv[2][i] - '0');
    }
    if (nlen == 0 || nlen >= 9 || n < 1) return -1;
    return yw_redis_key_slot(argv[3], LEN(3));
  }
  /* streams: XREAD/XREADGROUP name their keys after STREAMS; XGROUP and XINFO after
   * their subcommand (XGROUP CREATE key ..., XINFO GROUPS key) */
  if (is(cmd, clen, "XREAD") || is(cmd, clen, "XREADGROUP")) {
    for (int i = 1; i + 1 < argc; i++)
      if (is(argv[i], LEN(i), "STREAMS")) return yw_redis_key_slot(argv[i + 1], LEN(i + 1));
    return -1;
  }
  if (is(cmd, clen, "XGROUP") || is(cmd, clen, "XINFO")) {
    if (argc < 3 || is(argv[1], LEN(1), "HELP")) return -1;
    return yw_redis_key_slot(argv[2], LEN(2));
  }
  if (argc < 2) return -1;
  return yw_redis_key_slot(argv[1], LEN(1));
#undef LEN
}

int yw_redis_addr_parse(const char *s, size_t len, yw_redis_addr *out) {
  while (len > 0 && (*s == ' ' || *s == '\t')) {
    s++;
    len--;
  }
  while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
  const char *colon = NULL;
  for (size_t i = len; i > 0; i--)
    if (s[i - 1] == ':') {
      colon = s + i - 1;
      break;
    }
  if (colon == NULL || colon == s) return YW_EINVAL;
  const char *h = s;
  size_t hlen = (size_t)(colon - s);
  if (s[0] == '[') { /* [v6]:port */
    if (hlen < 3 || s[hlen - 1] != ']') return YW_EINVAL;
    h = s + 1;
    hlen -= 2;
  }
  if (hlen == 0 || hlen >= sizeof out->host || memchr(h, ',', hlen) != NULL) return YW_EINVAL;
  const char *p = colon + 1;
  size_t plen = len - (size_t)(p - s);
  if (plen == 0 || plen > 5) return YW_EINVAL;
  long v = 0;
  for (size_t i = 0; i < plen; i++) {
    if (p[i] < '0' || p[i] > '9') return YW_EINVAL;
    v = v * 10 + (p[i] - '0');
  }
  if (v < 1 || v > 65535) return YW_EINVAL;
  memcpy(out->host, h, hlen);
  out->host[hlen] = '\0';
  out->port = (int)v;
  return 0;
}

int yw_redis_addr_list_parse(const char *list, yw_redis_addr *out, int max, int *n) {
  *n = 0;
  const char *p = list;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
    if (*n >= max || yw_redis_addr_parse(p, len, &out[*n]) != 0) {
      *n = 0;
      return YW_EINVAL;
    }
    (*n)++;
    if (comma == NULL) return 0;
    p = comma + 1;
  }
}

int yw_redis_cluster_answer(const redisReply *reply) {
  if (reply == NULL) return -1;
  if (reply->type == REDIS_REPLY_ARRAY) return 1;
  if (reply->type != REDIS_REPLY_ERROR || reply->str == NULL) return -1;
  /* "ERR This instance has cluster support disabled"; a server or proxy without the
   * command: "ERR unknown command ..." */
  if (strstr(reply->str, "cluster support disabled") != NULL ||
      strncmp(reply->str, "ERR unknown command", 19) == 0)
    return 0;
  return -1;
}

static int int_of(const redisReply *e, long long *v) {
  if (e == NULL || e->type != REDIS_REPLY_INTEGER) return -1;
  *v = e->integer;
  return 0;
}

int yw_redis_slot_map_parse(const redisReply *reply, const char *asked_host,
                            yw_redis_slot_map *out) {
  out->n_nodes = 0;
  for (int s = 0; s < YW_REDIS_SLOTS; s++) out->owner[s] = -1;
  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) return YW_EINVAL;
  for (size_t i = 0; i < reply->elements; i++) {
    const redisReply *e = reply->element[i];
    long long from = 0, to = 0, port = 0;
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        int_of(e->element[0], &from) != 0 || int_of(e->element[1], &to) != 0 || from < 0 ||
        to >= YW_REDIS_SLOTS || from > to)
      return YW_EINVAL;
    const redisReply *m = e->element[2]; /* the master: endpoint, port, id, ... */
    if (m == NULL || m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
        m->element[0]->type != REDIS_REPLY_STRING || int_of(m->element[1], &port) != 0 ||
        port < 1 || port > 65535)
      return YW_EINVAL;
    const char *host = m->element[0]->str;
    size_t hlen = m->element[0]->len;
    if (hlen == 0 || (hlen == 1 && host[0] == '?')) {
      host = asked_host;
      hlen = strlen(asked_host);
    }
    if (hlen == 0 || hlen >= YW_REDIS_HOST_MAX || memchr(host, '\0', hlen) != NULL)
      return YW_EINVAL;
    int idx = -1;
    for (int k = 0; k < out->n_nodes && idx < 0; k++)
      if (out->nodes[k].port == (int)port && strlen(out->nodes[k].host) == hlen &&
          memcmp(out->nodes[k].host, host, hlen) == 0)
        idx = k;
    if (idx < 0) {
      if (out->n_nodes >= YW_REDIS_MAX_NODES) return YW_ELIMIT;
      idx = out->n_nodes++;
      memcpy(out->nodes[idx].host, host, hlen);
      out->nodes[idx].host[hlen] = '\0';
      out->nodes[idx].port = (int)port;
    }
    for (long long s = from; s <= to; s++) out->owner[s] = (int16_t)idx;
  }
  return 0;
}

int yw_redis_redirect_parse(const char *err, size_t len, const char *asked_host, int *slot,
                            yw_redis_addr *to) {
  int kind = YW_REDIS_NO_REDIRECT;
  size_t skip = 0;
  if (len > 6 && memcmp(err, "MOVED ", 6) == 0) {
    kind = YW_REDIS_MOVED;
    skip = 6;
  } else if (len > 4 && memcmp(err, "ASK ", 4) == 0) {
    kind = YW_REDIS_ASK;
    skip = 4;
  } else {
    return YW_REDIS_NO_REDIRECT;
  }
  const char *p = err + skip, *end = err + len;
  long s = 0;
  size_t nd = 0;
  while (p < end && *p >= '0' && *p <= '9' && nd < 6) {
    s = s * 10 + (*p - '0');
    p++;
    nd++;
  }
  if (nd == 0 || s >= YW_REDIS_SLOTS || p >= end || *p != ' ') return YW_REDIS_NO_REDIRECT;
  p++;
  size_t rest = (size_t)(end - p);
  size_t unknown = rest > 0 && *p == ':' ? 0 : rest > 1 && p[0] == '?' && p[1] == ':' ? 1 : rest;
  if (unknown < rest && rest - unknown - 1 == strspn(p + unknown + 1, "0123456789")) {
    /* ":port" or "?:port": the node has no known endpoint, it is the one asked */
    char buf[YW_REDIS_HOST_MAX + 8];
    size_t hlen = strlen(asked_host), plen = rest - unknown;
    if (hlen == 0 || hlen + plen >= sizeof buf) return YW_REDIS_NO_REDIRECT;
    memcpy(buf, asked_host, hlen);
    memcpy(buf + hlen, p + unknown, plen);
    if (yw_redis_addr_parse(buf, hlen + plen, to) != 0) return YW_REDIS_NO_REDIRECT;
  } else if (yw_redis_addr_parse(p, rest, to) != 0) {
    return YW_REDIS_NO_REDIRECT;
  }
  *slot = (int)s;
  return kind;
}
