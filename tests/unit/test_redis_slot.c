/*
 * test_redis_slot.c - the Redis Cluster arithmetic both Redis clients share
 * (lib/yw_redis_slot.c): CRC16/XMODEM and key slots with and without hash tags (values
 * checked against redis-server 7's CLUSTER KEYSLOT), the routing key of the commands
 * the project sends, seed lists, the answers that tell a cluster from a single Redis,
 * CLUSTER SLOTS maps (read from RESP with hiredis' own reader, replicas and Redis 7's
 * metadata included) and the MOVED/ASK texts.
 */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"
#include "yw_redis_slot.h"

static int slot_of(const char *key) { return yw_redis_key_slot(key, strlen(key)); }

/* A reply parsed from RESP text, as hiredis would hand it over. */
static redisReply *resp(const char *text) {
  redisReader *rd = redisReaderCreate();
  assert_non_null(rd);
  assert_int_equal(redisReaderFeed(rd, text, strlen(text)), REDIS_OK);
  void *reply = NULL;
  assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
  assert_non_null(reply);
  redisReaderFree(rd);
  return reply;
}

static void test_crc16_is_xmodem(void **state) {
  (void)state;
  assert_int_equal(yw_redis_crc16("123456789", 9), 0x31C3);
  assert_int_equal(yw_redis_crc16("", 0), 0);
}

static void test_key_slots_match_redis(void **state) {
  (void)state;
  assert_int_equal(slot_of("foo"), 12182);
  assert_int_equal(slot_of("bar"), 5061);
  assert_int_equal(slot_of("hello"), 866);
  assert_int_equal(slot_of("somekey"), 11058);
  assert_int_equal(slot_of(""), 0);
  assert_int_equal(slot_of("{}"), 15257);
}

static void test_hash_tags_pick_the_bytes_hashed(void **state) {
  (void)state;
  assert_int_equal(slot_of("{user1000}.following"), 3443);
  assert_int_equal(slot_of("{user1000}.following"), slot_of("{user1000}.followers"));
  /* an empty tag: the whole key */
  assert_int_equal(slot_of("foo{}{bar}"), 8363);
  assert_int_equal(slot_of("foo{}{bar}"), yw_redis_crc16("foo{}{bar}", 10) & 16383);
  /* the first '{' and the first '}' after it */
  assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar"));
  assert_int_equal(slot_of("foo{{bar}}zap"), 4015);
  assert_int_equal(slot_of("foo{bar}{zap}"), slot_of("bar"));
  assert_int_equal(slot_of("user:{123}:profile"), slot_of("123"));
  assert_int_equal(slot_of("user:{123}:profile"), 5970);
  /* no closing brace: the whole key */
  assert_int_equal(slot_of("a{bc"), yw_redis_crc16("a{bc", 4) & 16383);
  /* the catalog's cache keys share a slot */
  assert_int_equal(slot_of("{yw:catalog:cache}:list"), slot_of("{yw:catalog:cache}:item"));
  /* a key with a NUL inside is hashed over all its bytes */
  assert_int_equal(yw_redis_key_slot("a\0b", 3), yw_redis_crc16("a\0b", 3) & 16383);
  assert_int_not_equal(yw_redis_key_slot("a\0b", 3), yw_redis_key_slot("a", 1));
}

static void test_commands_are_routed_by_their_key(void **state) {
  (void)state;
  const char *hmget[] = {"HMGET", "yw:sess:abc", "sub", "kind"};
  assert_int_equal(yw_redis_command_slot(4, hmget, NULL), slot_of("yw:sess:abc"));
  const char *evalsha[] = {"EVALSHA", "0123", "1", "yw:rl:ip:1.2.3.4", "10", "20"};
  assert_int_equal(yw_redis_command_slot(6, evalsha, NULL), slot_of("yw:rl:ip:1.2.3.4"));
  const char *eval[] = {"eval", "return 1", "2", "{t}:a", "{t}:b", "x"};
  assert_int_equal(yw_redis_command_slot(6, eval, NULL), slot_of("t"));
  const char *fcall[] = {"FCALL", "f", "1", "k"};
  assert_int_equal(yw_redis_command_slot(4, fcall, NULL), slot_of("k"));
  const char *eval0[] = {"EVAL", "return 1", "0"};
  assert_int_equal(yw_redis_command_slot(3, eval0, NULL), -1);
  const char *eval0a[] = {"EVAL", "return 1", "0", "arg"};
  assert_int_equal(yw_redis_command_slot(4, eval0a, NULL), -1);
  const char *evalbad[] = {"EVAL", "return 1", "x", "k"};
  assert_int_equal(yw_redis_command_slot(4, evalbad, NULL), -1);
  const char *del[] = {"DEL", "{p:cache}:list", "{p:cache}:item"};
  assert_int_equal(yw_redis_command_slot(3, del, NULL), slot_of("p:cache"));
  const char *set[] = {"SET", "k", "v", "NX", "EX", "60"};
  assert_int_equal(yw_redis_command_slot(6, set, NULL), slot_of("k"));
  const char *ping[] = {"PING"};
  assert_int_equal(yw_redis_command_slot(1, ping, NULL), -1);
  /* regression: stream commands were routed by "GROUP", "GROUPS" or "CREATE" */
  const char *xrg[] = {"XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "BLOCK", "100",
                       "STREAMS", "yw:events:{applications}", ">"};
  assert_int_equal(yw_redis_command_slot(11, xrg, NULL), slot_of("applications"));
  const char *xr[] = {"XREAD", "COUNT", "1", "STREAMS", "{s}:x", "0"};
  assert_int_equal(yw_redis_command_slot(6, xr, NULL), slot_of("s"));
  const char *xgc[] = {"XGROUP", "CREATE", "{s}:x", "g", "$", "MKSTREAM"};
  assert_int_equal(yw_redis_command_slot(6, xgc, NULL), slot_of("s"));
  const char *xig[] = {"XINFO", "GROUPS", "{s}:x"};
  assert_int_equal(yw_redis_command_slot(3, xig, NULL), slot_of("s"));
  const char *xadd[] = {"XADD", "{s}:x", "MAXLEN", "~", "100", "*", "f", "v"};
  assert_int_equal(yw_redis_command_slot(8, xadd, NULL), slot_of("s"));
  const char *load[] = {"SCRIPT", "LOAD", "return 1"};
  assert_int_equal(yw_redis_command_slot(3, load, NULL), -1);
  const char *slots[] = {"cluster", "slots"};
  assert_int_equal(yw_redis_command_slot(2, slots, NULL), -1);
  const char *info[] = {"INFO", "cluster"};
  assert_int_equal(yw_redis_command_slot(2, info, NULL), -1);
  /* lengths given: a binary key */
  const char *hget[] = {"HGET", "k\0x", "f"};
  size_t lens[] = {4, 3, 1};
  assert_int_equal(yw_redis_command_slot(3, hget, lens), yw_redis_key_slot("k\0x", 3));
  assert_int_equal(yw_redis_command_slot(0, ping, NULL), -1);
}

static void test_addresses_and_seed_lists_parse(void **state) {
  (void)state;
  yw_redis_addr a;
  assert_int_equal(yw_redis_addr_parse("127.0.0.1:6379", 14, &a), 0);
  assert_string_equal(a.host, "127.0.0.1");
  assert_int_equal(a.port, 6379);
  assert_int_equal(yw_redis_addr_parse("[::1]:7000", 10, &a), 0);
  assert_string_equal(a.host, "::1");
  assert_int_equal(a.port, 7000);
  assert_int_equal(yw_redis_addr_parse("fe80::1:7001", 12, &a), 0);
  assert_string_equal(a.host, "fe80::1");
  assert_int_equal(a.port, 7001);
  assert_int_equal(yw_redis_addr_parse("redis.internal:1", 16, &a), 0);
  assert_string_equal(a.host, "redis.internal");
  const char *bad[] = {"",      "host",      ":6379", "h:",       "h:0",  "h:65536",
                       "h:12a", "[::1]7000", "[]:1",  "h:123456", "h:-1", "h:+1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(yw_redis_addr_parse(bad[i], strlen(bad[i]), &a), YW_EINVAL);

  yw_redis_addr list[YW_REDIS_MAX_SEEDS];
  int n = -1;
  assert_int_equal(yw_redis_addr_list_parse("127.0.0.1:7000", list, YW_REDIS_MAX_SEEDS, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(yw_redis_addr_list_parse("10.0.0.1:7000, 10.0.0.2:7001 ,[::1]:7002", list,
                                            YW_REDIS_MAX_SEEDS, &n),
                   0);
  assert_int_equal(n, 3);
  assert_string_equal(list[1].host, "10.0.0.2");
  assert_int_equal(list[1].port, 7001);
  assert_string_equal(list[2].host, "::1");
  assert_int_equal(yw_redis_addr_list_parse("a:1,,b:2", list, YW_REDIS_MAX_SEEDS, &n), YW_EINVAL);
  assert_int_equal(n, 0);
  assert_int_equal(yw_redis_addr_list_parse("a:1,", list, YW_REDIS_MAX_SEEDS, &n), YW_EINVAL);
  assert_int_equal(yw_redis_addr_list_parse("", list, YW_REDIS_MAX_SEEDS, &n), YW_EINVAL);
  assert_int_equal(yw_redis_addr_list_parse("a:1,b:2,c:3", list, 2, &n), YW_EINVAL);
}

static void test_cluster_answers_tell_a_cluster_from_one_redis(void **state) {
  (void)state;
  redisReply *r = resp("-ERR This instance has cluster support disabled\r\n");
  assert_int_equal(yw_redis_cluster_answer(r), 0);
  freeReplyObject(r);
  r = resp("-ERR unknown command 'CLUSTER', with args beginning with: 'SLOTS' \r\n");
  assert_int_equal(yw_redis_cluster_answer(r), 0);
  freeReplyObject(r);
  r = resp("*0\r\n"); /* a cluster node before slots are assigned */
  assert_int_equal(yw_redis_cluster_answer(r), 1);
  freeReplyObject(r);
  r = resp("-LOADING Redis is loading the dataset in memory\r\n");
  assert_int_equal(yw_redis_cluster_answer(r), -1);
  freeReplyObject(r);
  assert_int_equal(yw_redis_cluster_answer(NULL), -1);
}

/* Three masters (one named without an endpoint), each with a replica, Redis 7's
 * metadata (an empty array in RESP2), and one slot range served by nobody. */
static const char SLOTS[] =
    "*3\r\n"
    "*4\r\n:0\r\n:5460\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nm1\r\n*0\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nr1\r\n*0\r\n"
    "*4\r\n:5461\r\n:10922\r\n"
    "*4\r\n$0\r\n\r\n:7001\r\n$2\r\nm2\r\n*0\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:7004\r\n$2\r\nr2\r\n*0\r\n"
    "*3\r\n:10923\r\n:16000\r\n"
    "*3\r\n$8\r\n10.0.0.3\r\n:7002\r\n$2\r\nm3\r\n";

static void test_slot_maps_are_read_from_cluster_slots(void **state) {
  (void)state;
  yw_redis_slot_map *m = malloc(sizeof *m);
  assert_non_null(m);
  redisReply *r = resp(SLOTS);
  assert_int_equal(yw_redis_slot_map_parse(r, "10.9.9.9", m), 0);
  freeReplyObject(r);
  assert_int_equal(m->n_nodes, 3);
  assert_string_equal(m->nodes[m->owner[0]].host, "127.0.0.1");
  assert_int_equal(m->nodes[m->owner[0]].port, 7000);
  assert_int_equal(m->owner[5460], m->owner[0]);
  assert_string_equal(m->nodes[m->owner[5461]].host, "10.9.9.9"); /* the node asked */
  assert_int_equal(m->nodes[m->owner[10922]].port, 7001);
  assert_string_equal(m->nodes[m->owner[12182]].host, "10.0.0.3");
  assert_int_equal(m->nodes[m->owner[16000]].port, 7002);
  assert_int_equal(m->owner[16001], -1);
  assert_int_equal(m->owner[16383], -1);

  r = resp("*0\r\n");
  assert_int_equal(yw_redis_slot_map_parse(r, "h", m), 0);
  assert_int_equal(m->n_nodes, 0);
  assert_int_equal(m->owner[0], -1);
  freeReplyObject(r);
  r = resp("*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n");
  assert_int_equal(yw_redis_slot_map_parse(r, "h", m), YW_EINVAL);
  freeReplyObject(r);
  r = resp("*1\r\n*3\r\n:5\r\n:4\r\n*2\r\n$1\r\nh\r\n:1\r\n");
  assert_int_equal(yw_redis_slot_map_parse(r, "h", m), YW_EINVAL);
  freeReplyObject(r);
  r = resp("*1\r\n*2\r\n:0\r\n:4\r\n");
  assert_int_equal(yw_redis_slot_map_parse(r, "h", m), YW_EINVAL);
  freeReplyObject(r);
  r = resp("-ERR This instance has cluster support disabled\r\n");
  assert_int_equal(yw_redis_slot_map_parse(r, "h", m), YW_EINVAL);
  freeReplyObject(r);
  free(m);
}

static void test_redirections_are_read(void **state) {
  (void)state;
  yw_redis_addr to;
  int slot = -1;
  const char *moved = "MOVED 3999 127.0.0.1:6381";
  assert_int_equal(yw_redis_redirect_parse(moved, strlen(moved), "x", &slot, &to), YW_REDIS_MOVED);
  assert_int_equal(slot, 3999);
  assert_string_equal(to.host, "127.0.0.1");
  assert_int_equal(to.port, 6381);
  const char *ask = "ASK 12182 10.0.0.7:7002";
  assert_int_equal(yw_redis_redirect_parse(ask, strlen(ask), "x", &slot, &to), YW_REDIS_ASK);
  assert_int_equal(slot, 12182);
  assert_string_equal(to.host, "10.0.0.7");
  assert_int_equal(to.port, 7002);
  const char *noendpoint = "MOVED 1 :7005";
  assert_int_equal(yw_redis_redirect_parse(noendpoint, strlen(noendpoint), "10.1.1.1", &slot, &to),
                   YW_REDIS_MOVED);
  assert_string_equal(to.host, "10.1.1.1");
  assert_int_equal(to.port, 7005);
  const char *unknown = "ASK 1 ?:7006";
  assert_int_equal(yw_redis_redirect_parse(unknown, strlen(unknown), "10.1.1.2", &slot, &to),
                   YW_REDIS_ASK);
  assert_string_equal(to.host, "10.1.1.2");
  assert_int_equal(to.port, 7006);
  const char *v6 = "MOVED 2 ::1:7000";
  assert_int_equal(yw_redis_redirect_parse(v6, strlen(v6), "x", &slot, &to), YW_REDIS_MOVED);
  assert_string_equal(to.host, "::1");
  const char *others[] = {"NOSCRIPT No matching script",
                          "ERR wrong number of arguments",
                          "MOVED 16384 h:1",
                          "MOVED x h:1",
                          "MOVED 1",
                          "MOVED 1 h",
                          "ASK 1 h:0",
                          "MOVEDX 1 h:1",
                          "CROSSSLOT Keys in request don't hash to the same slot"};
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
    assert_int_equal(yw_redis_redirect_parse(others[i], strlen(others[i]), "x", &slot, &to),
                     YW_REDIS_NO_REDIRECT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc16_is_xmodem),
      cmocka_unit_test(test_key_slots_match_redis),
      cmocka_unit_test(test_hash_tags_pick_the_bytes_hashed),
      cmocka_unit_test(test_commands_are_routed_by_their_key),
      cmocka_unit_test(test_addresses_and_seed_lists_parse),
      cmocka_unit_test(test_cluster_answers_tell_a_cluster_from_one_redis),
      cmocka_unit_test(test_slot_maps_are_read_from_cluster_slots),
      cmocka_unit_test(test_redirections_are_read),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
