/* SPDX-License-Identifier: MIT */
/* Does this kernel offer kernel TLS? Sets the "tls" upper-layer protocol
 * (TCP_ULP) on a connected loopback socket, as any kTLS user must before
 * handing the kernel its keys, and says what the kernel answered. kumo's
 * TLS stays in user space where this fails.
 *
 *     cc -O2 bench/tls/ktls_probe.c -o build/bench/ktls_probe && build/bench/ktls_probe */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

int main(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t n = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
        getsockname(l, (struct sockaddr *)&a, &n) || connect(c, (struct sockaddr *)&a, sizeof a)) {
        perror("loopback connection");
        return 2;
    }
    char ulps[256] = "";
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");
    if (f) {
        if (!fgets(ulps, sizeof ulps, f))
            ulps[0] = '\0';
        fclose(f);
        ulps[strcspn(ulps, "\n")] = '\0';
    }
    int rc = setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls");
    printf("tcp_available_ulp: %s\n", ulps[0] ? ulps : "(unreadable)");
    if (rc == 0) {
        printf("kTLS: offered (TCP_ULP \"tls\" accepted)\n");
        return 0;
    }
    printf("kTLS: not offered (TCP_ULP \"tls\": %s)\n", strerror(errno));
    return 1;
}
