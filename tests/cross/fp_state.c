/* SPDX-License-Identifier: MIT */
/* Cross-architecture smoke test: floating-point control state stays per goroutine. */
#include <kumo.h>
#include <fenv.h>
#include <stdio.h>
static int bad;
static km_wg *wg;
static void g(void *arg) { int m = (int)(long)arg; fesetround(m); double a = 1.0/3, acc = 0;
  for (int i = 0; i < 1000; i++) { km_yield(); if (fegetround() != m) bad++; acc += a; }
  if (acc < 333.3 || acc > 333.4) bad++; km_wg_done(wg); }
static void body(void *x) { (void)x; km_wg_new(&wg); int modes[] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
  km_wg_add(wg, 8); for (int i = 0; i < 8; i++) km_go(g, (void*)(long)modes[i%4]); km_wg_wait(wg);
  printf("fp state per goroutine: %s (%d bad)\n", bad ? "BROKEN" : "ok", bad); }
int main(void) { return km_main(body, NULL); }
