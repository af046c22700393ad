/* gifd: the gifnet node. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "node/node.h"
#include "util/gif.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: gifd --config FILE\n"
               "       gifd --version\n\n"
               "Runs a gifnet node: the HTTP API (default 127.0.0.1:7480) over the node's LMDB\n"
               "store. Create a node's directory and config with `gifctl node init`.\n"
               "See docs/operations.md.\n");
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config = argv[i] + 9;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("gifd %s\n", GIF_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "gifd: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!config) {
        usage(stderr);
        return 2;
    }
    /* A client that disconnects while we write must cost an EPIPE, not the process:
     * libuv leaves SIGPIPE to the application. */
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0) {
        fprintf(stderr, "gifd: libsodium failed to initialise\n");
        return 1;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    static struct node node;
    char err[512] = "";
    int rc = node_start(&node, &loop, config, err, sizeof err);
    if (rc) {
        fprintf(stderr, "gifd: %s\n", err[0] ? err : gif_strerror(rc));
        if (node.http) {
            node_stop(&node);
        } else {
            /* Handles that node_start opened before failing still need closing. */
            node.stopping = true;
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        node_free(&node);
        uv_loop_close(&loop);
        return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    node_free(&node);
    rc = uv_loop_close(&loop);
    if (rc) GIF_WARN("node", "event loop closed with handles open: %s", uv_strerror(rc));
    GIF_INFO("node", "stopped");
    return 0;
}
