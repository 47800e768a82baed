/* SPDX-License-Identifier: MIT */
/* CRC-32C, bytewise with a table built once from the reflected polynomial. */
#include <pthread.h>
#include "enc/crc32c.h"

#define POLY 0x82f63b78u   /* 0x1edc6f41 bit-reversed: the CRC is reflected */

static uint32_t table[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        table[i] = c;
    }
}

uint32_t km__crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&once, build);
    const uint8_t *b = p;
    /* pre- and post-inversion live here, so callers chain plain values */
    crc = ~crc;
    while (n--)
        crc = table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
