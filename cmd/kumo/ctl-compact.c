/* SPDX-License-Identifier: MIT */
/* kumo compact: drops the key history older than a revision. */
#include <getopt.h>
#include <string.h>
#include "cmd.h"
#include "ctl.h"

static const char help[] =
    "usage: kumo compact REV [--physical]\n"
    "Compacts the key history up to revision REV; reads below it then fail.\n"
    "  --physical            wait until the space is really reclaimed\n";

static void print(json_t *resp, void *ud)
{
    (void)resp;
    printf("compacted revision %lld\n", (long long)*(int64_t *)ud);
}

int kumo_compact(int argc, char **argv)
{
    static const struct option lo[] = {
        { "physical", no_argument, 0, 'p' }, { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 } };
    ctl c;
    bool physical = false;
    int o, rc = ctl_globals(&c, &argc, argv);
    if (rc)
        return rc;
    optind = 0;
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (o) {
        case 'p': physical = true; break;
        case 'h': printf("%s%s", help, ctl_globals_help); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    int64_t rev;
    if (argc - optind != 1) {
        fprintf(stderr, "kumo: compact needs one REV\n%s", help);
        return 2;
    }
    if (ctl_parse_i64(argv[optind], &rev) || rev <= 0) {
        fprintf(stderr, "kumo: bad revision \"%s\"\n%s", argv[optind], help);
        return 2;
    }
    json_t *req = json_pack("{sI}", "revision", (json_int_t)rev);
    if (req && physical)
        json_object_set_new(req, "physical", json_true());
    ctl_req r = { "/v3/kv/compaction", req, print, &rev };
    return ctl_simple(&c, &r);
}
