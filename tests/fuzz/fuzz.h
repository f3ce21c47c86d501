/*
 * fuzz.h - what the fuzz targets share: the libFuzzer entry point and a check that stops
 * the run with a message when a property of the code under test does not hold (a
 * wrong answer is a finding too, not only a crash).
 */
#ifndef YW_FUZZ_H
#define YW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                          \
  do {                                                                            \
    if (!(cond)) {                                                                \
      fprintf(stderr, "%s:%d: property does not hold: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                    \
    }                                                                             \
  } while (0)

#endif
