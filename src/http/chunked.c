/* SPDX-License-Identifier: MIT */
/* Chunked transfer coding (RFC 9112 §7.1), decoded in place. */
#include "parse.h"
#include <string.h>

enum { SIZE, SIZE_MORE, EXT, SIZE_LF, DATA, DATA_CR, DATA_LF,
       TRAILER, TRAILER_LINE, TRAILER_LF, END_LF, DONE };

#define MAX_TRAILER 8192

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int km__chunked_decode(km__chunked *d, char *buf, size_t len, size_t max_body)
{
    while (d->rpos < len) {
        unsigned char c = (unsigned char)buf[d->rpos];
        switch (d->state) {
        case SIZE:          /* first hex digit */
        case SIZE_MORE: {
            int v = hexval(c);
            if (v >= 0) {
                if (d->left >> 56)
                    return -400;        /* more than 15 hex digits */
                d->left = d->left * 16 + (uint64_t)v;
                d->state = SIZE_MORE;
            } else if (d->state == SIZE) {
                return -400;
            } else if (c == ';') {
                d->state = EXT;
            } else if (c == '\r') {
                d->state = SIZE_LF;
            } else {
                return -400;            /* spaces, junk after the size */
            }
            d->rpos++;
            break;
        }
        case EXT:           /* chunk extensions: ignored, but no controls */
            if (c == '\r')
                d->state = SIZE_LF;
            else if ((c < 0x20 && c != '\t') || c == 0x7f)
                return -400;
            d->rpos++;
            break;
        case SIZE_LF:
            if (c != '\n')
                return -400;
            d->rpos++;
            if (d->left == 0) {
                d->state = TRAILER;
            } else {
                if (d->wpos + d->left > max_body || d->left > max_body)
                    return -413;
                d->state = DATA;
            }
            break;
        case DATA: {
            size_t n = len - d->rpos;
            if (n > d->left)
                n = (size_t)d->left;
            if (d->wpos != d->rpos)
                memmove(buf + d->wpos, buf + d->rpos, n);
            d->wpos += n;
            d->rpos += n;
            d->left -= n;
            if (d->left == 0)
                d->state = DATA_CR;
            break;
        }
        case DATA_CR:
            if (c != '\r')
                return -400;
            d->state = DATA_LF;
            d->rpos++;
            break;
        case DATA_LF:
            if (c != '\n')
                return -400;
            d->state = SIZE;
            d->rpos++;
            break;
        case TRAILER:       /* start of a trailer line, or the final CRLF */
            if (c == '\r') {
                d->state = END_LF;
            } else if (c == ' ' || c == '\t' || c == ':') {
                return -400;
            } else {
                d->state = TRAILER_LINE;
                continue;   /* re-read c as part of the line */
            }
            d->rpos++;
            break;
        case TRAILER_LINE:  /* trailer fields are read and dropped */
            if (c == '\r')
                d->state = TRAILER_LF;
            else if ((c < 0x20 && c != '\t') || c == 0x7f)
                return -400;
            if (++d->trailer_bytes > MAX_TRAILER)
                return -400;
            d->rpos++;
            break;
        case TRAILER_LF:
            if (c != '\n')
                return -400;
            d->state = TRAILER;
            d->rpos++;
            break;
        case END_LF:
            if (c != '\n')
                return -400;
            d->rpos++;
            d->state = DONE;
            return 1;
        case DONE:
            return 1;
        }
    }
    return d->state == DONE ? 1 : 0;
}
