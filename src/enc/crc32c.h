/* SPDX-License-Identifier: MIT */
/* CRC-32C (Castagnoli), the checksum etcd's Hash and HashKV report. */
#ifndef KUMO_ENC_CRC32C_H
#define KUMO_ENC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc (0 to start) over n bytes; the result is the CRC of all
 * bytes so far, so pieces may be fed one after another. */
uint32_t km__crc32c(uint32_t crc, const void *p, size_t n);

#endif
