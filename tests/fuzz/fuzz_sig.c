/*
 * fuzz_sig - signaling parser: parse; when accepted, write, re-parse and
 * require the second write to equal the first and to stay within
 * hc_sig_max_len(); when refused, require a proper code and an err text
 * that an error reply can carry.
 */
#include "proto/err.h"
#include "proto/sig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static hc_sig_msg_t m, m2, reply;
static char out[HC_SIG_MAX_TEXT + 1], out2[HC_SIG_MAX_TEXT + 1];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    int rc = hc_sig_parse((const char *)data, size, &m, err, sizeof err);
    if (rc == 0) {
        int n = hc_sig_write(&m, out, sizeof out);
        if (n <= 0 || (size_t)n > hc_sig_max_len(m.type) || out[n] != '\0') abort();
        if (hc_sig_parse(out, (size_t)n, &m2, err, sizeof err) != 0) abort();
        if (m2.type != m.type || hc_sig_request_id(&m2) != hc_sig_request_id(&m)) abort();
        int n2 = hc_sig_write(&m2, out2, sizeof out2);
        if (n2 != n || memcmp(out, out2, (size_t)n) != 0) abort();
        hc_sig_msg_fini(&m2);
    } else {
        if (rc != -HC_EJSON && rc != -HC_ESCHEMA && rc != -HC_ERANGE) abort();
        if (!err[0]) abort();
        /* The relay turns every refusal into an error reply: it must write. */
        if (hc_sig_error_init(&reply, hc_sig_request_id(&m), rc, err) != 0) abort();
        if (hc_sig_write(&reply, out, sizeof out) <= 0) abort();
        hc_sig_msg_fini(&reply);
    }
    hc_sig_msg_fini(&m);
    return 0;
}
