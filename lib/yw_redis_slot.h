/*
 * yw_redis_slot.h - what both Redis clients (lib/yw_redis.c, synchronous, and
 * gateway/gw_redis.c, on the workers' event loops) need to talk to a Redis Cluster:
 * the hash slot of a key (CRC16/XMODEM of the key or of its {hash tag}, mod 16384), the
 * key a command is routed by, the slot map from CLUSTER SLOTS, the -MOVED and -ASK
 * redirections, and the "host:port[,host:port...]" seed lists of YW_REDIS_ADDR.
 *
 * Pure functions over the caller's memory: no allocation, no I/O, no locks; safe from
 * any thread.
 */
#ifndef YW_REDIS_SLOT_H
#define YW_REDIS_SLOT_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define YW_REDIS_SLOTS 16384
#define YW_REDIS_MAX_NODES 64 /* masters a client keeps track of; more are refused */
#define YW_REDIS_MAX_SEEDS 8  /* addresses in one YW_REDIS_ADDR */
#define YW_REDIS_HOST_MAX 256 /* host name or address, with its NUL */

/* One node's address. host holds no brackets, also for IPv6. */
typedef struct yw_redis_addr {
  char host[YW_REDIS_HOST_MAX];
  int port;
} yw_redis_addr;

/* Masters and the slots each serves, as CLUSTER SLOTS answered. */
typedef struct yw_redis_slot_map {
  int n_nodes;
  yw_redis_addr nodes[YW_REDIS_MAX_NODES];
  int16_t owner[YW_REDIS_SLOTS]; /* index into nodes, -1 when no master serves the slot */
} yw_redis_slot_map;

/* CRC16/XMODEM (polynomial 0x1021, initial 0), as Redis Cluster uses it. */
uint16_t yw_redis_crc16(const void *buf, size_t len);

/* The slot of a key: when the key holds a '{' followed later by a '}' with at least one
 * byte between them, only those bytes (the hash tag of the first such '{') are hashed;
 * otherwise the whole key. Returns 0..16383. */
int yw_redis_key_slot(const char *key, size_t len);

/* The slot a command is routed by: for EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, FCALL and
 * FCALL_RO the first key after numkeys; for commands that name no key (PING, ECHO,
 * INFO, TIME, SCRIPT, FUNCTION, CLUSTER, CONFIG, CLIENT, COMMAND, DBSIZE, FLUSHALL,
 * FLUSHDB, KEYS, SCAN, RANDOMKEY, PUBLISH, ASKING, READONLY, HELLO, AUTH, SELECT, WAIT,
 * ...) -1, meaning any node; for every other command argv[1] (a command over several
 * keys must have them in one slot, or Redis refuses it with CROSSSLOT). argvlen may be
 * NULL for NUL-terminated arguments. */
int yw_redis_command_slot(int argc, const char **argv, const size_t *argvlen);

/* Parses one "host:port", "[v6]:port" or "v6:port" of len bytes (spaces around it are
 * ignored). Returns 0 or YW_EINVAL (no port, a port out of 1..65535, an empty or too
 * long host). */
int yw_redis_addr_parse(const char *s, size_t len, yw_redis_addr *out);

/* Parses a comma-separated list of addresses into out[0..max-1], *n set to how many.
 * Returns 0, or YW_EINVAL (an entry is malformed, the list is empty or longer than max). */
int yw_redis_addr_list_parse(const char *list, yw_redis_addr *out, int max, int *n);

/* What an answer to CLUSTER SLOTS says of the server: 1 it is a cluster node (an array,
 * possibly empty before slots are assigned), 0 it is not (cluster support disabled, or
 * a server without the command), -1 undecided (no answer, or another error such as
 * LOADING). */
int yw_redis_cluster_answer(const redisReply *reply);

/* Reads a CLUSTER SLOTS answer into *out (masters only; replicas are ignored). A master
 * named without an endpoint ("" or "?") is taken to be asked_host, the node that
 * answered. Returns 0, or YW_EINVAL (not such an answer) or YW_ELIMIT (more than
 * YW_REDIS_MAX_NODES masters). */
int yw_redis_slot_map_parse(const redisReply *reply, const char *asked_host,
                            yw_redis_slot_map *out);

enum yw_redis_redirect { YW_REDIS_NO_REDIRECT = 0, YW_REDIS_MOVED = 1, YW_REDIS_ASK = 2 };

/* Reads an error text "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" (the
 * reply's str). An empty host (a node with no known endpoint) becomes asked_host.
 * Returns YW_REDIS_MOVED or YW_REDIS_ASK with *slot and *to set, or YW_REDIS_NO_REDIRECT
 * for any other text. */
int yw_redis_redirect_parse(const char *err, size_t len, const char *asked_host, int *slot,
                            yw_redis_addr *to);

#endif
