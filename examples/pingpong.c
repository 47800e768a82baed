/* SPDX-License-Identifier: MIT */
/* Go's ping-pong: two goroutines bounce a ball over unbuffered channels. */
#include <kumo.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct { km_chan *in, *out, *done; const char *name; long rounds; } player;

static void play(void *arg)
{
    player *p = arg;
    long ball;
    while (km_chan_recv(p->in, &ball) == 0) {
        if (ball < 4)
            printf("%s %ld\n", p->name, ball);
        if (++ball == p->rounds) {
            km_chan_close(p->done);     /* game over */
            return;
        }
        km_chan_send(p->out, &ball);
    }
}

static void game(void *arg)
{
    long rounds = *(long *)arg;
    km_chan *ping_c, *pong_c, *done;
    km_chan_new(&ping_c, sizeof(long), 0);
    km_chan_new(&pong_c, sizeof(long), 0);
    km_chan_new(&done, 0, 0);
    player ping = { ping_c, pong_c, done, "ping", rounds };
    player pong = { pong_c, ping_c, done, "pong", rounds };
    if (km_go(play, &ping) || km_go(play, &pong)) {
        fprintf(stderr, "pingpong: no memory for the players\n");
        exit(1);
    }
    int64_t t0 = km_now();
    long ball = 0;
    km_chan_send(ping_c, &ball);
    km_chan_recv(done, NULL);           /* returns -EPIPE once closed */
    int64_t dt = km_now() - t0;
    km_chan_close(ping_c);              /* the loser wakes with -EPIPE */
    km_chan_close(pong_c);
    printf("%ld hops in %.1f ms: %.1f ns per hop\n", rounds, dt / 1e6, (double)dt / rounds);
    km_sleep(1000000);                  /* let the loser see the close */
    km_chan_free(ping_c);
    km_chan_free(pong_c);
    km_chan_free(done);
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 1000000;
    return km_main(game, &rounds) ? 1 : 0;
}
