/*
 * yw_testpaysim.h - the channel simulator yw-paysim as a real process of a test: its
 * channel "sim" of merchant 1900000001 (and sim-sm2, which it always serves) with API
 * keys of their own, its keys in a temporary folder, started and waited for (bounded),
 * stopped and removed.
 */
#ifndef YW_TESTPAYSIM_H
#define YW_TESTPAYSIM_H

#include <sys/types.h>

typedef struct yw_testpaysim {
  pid_t pid;
  int port;
  char dir[64];        /* the temporary folder */
  char keys_dir[80];   /* <dir>/keys: sim.pub.pem, sim.key, sim-sm2.pub.pem ... */
  char key_hex[65];    /* channel sim's API key */
  char sm2_key_hex[65];/* channel sim-sm2's */
  char base[64];       /* http://127.0.0.1:<port> */
  char url[96];        /* channel sim's base URL: <base>/sim (sim-sm2's: <base>/sim-sm2) */
  char keys_spec[512]; /* for pay_channels_load: "sim=1900000001:<key>:<dir>/keys/sim.pub.pem,
                        * sim-sm2=1900000002:<key>:<dir>/keys/sim-sm2.pub.pem" */
} yw_testpaysim;

/* Starts bin (yw-paysim) and waits until it answers /healthz (at most 20 s). Returns 0,
 * or -1 with a message on stderr. */
int yw_testpaysim_start(const char *bin, yw_testpaysim *s);

/* The same, with env ("NAME=VALUE" strings, NULL-terminated; NULL: none) added to the
 * simulator's environment (YW_PAYSIM_RETRY_MS ...). A port free when chosen but taken
 * by a parallel test before the simulator binds it (the simulator exits at once) is
 * chosen again, up to five times. */
int yw_testpaysim_start_env(const char *bin, yw_testpaysim *s, const char *const *env);

/* Stops it (SIGCONT first: it may be stopped), waits for it (10 s, then SIGKILL) and
 * removes the folder. */
void yw_testpaysim_stop(yw_testpaysim *s);

/* POSTs json to the simulator at path ("/sim/sim/pay": channel sim's wallet); the HTTP
 * status, or -1 when it did not answer within 5 s. */
long yw_testpaysim_post(const yw_testpaysim *s, const char *path, const char *json);

#endif
