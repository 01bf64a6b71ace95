#include "proto/err.h"

static const struct {
    const char *name;
    const char *text;
} errs[HC_ERR_COUNT] = {
    [HC_OK] = {"OK", "success"},
    [HC_EINVAL] = {"EINVAL", "invalid argument"},
    [HC_ETRUNC] = {"ETRUNC", "input truncated"},
    [HC_ENOSPC] = {"ENOSPC", "output buffer too small"},
    [HC_EVERSION] = {"EVERSION", "unsupported protocol version"},
    [HC_EMALFORMED] = {"EMALFORMED", "malformed input"},
    [HC_EUNSUPPORTED] = {"EUNSUPPORTED", "not supported"},
    [HC_ERANGE] = {"ERANGE", "value out of range"},
    [HC_ENOMEM] = {"ENOMEM", "out of memory"},
    [HC_EAUTH] = {"EAUTH", "authentication failed"},
    [HC_EREPLAY] = {"EREPLAY", "replayed packet"},
    [HC_ESRTP] = {"ESRTP", "SRTP failure"},
    [HC_EJSON] = {"EJSON", "invalid JSON"},
    [HC_ESCHEMA] = {"ESCHEMA", "message does not follow the schema"},
    [HC_ETOKEN] = {"ETOKEN", "malformed token"},
    [HC_ESIGNATURE] = {"ESIGNATURE", "token signature invalid"},
    [HC_EEXPIRED] = {"EEXPIRED", "token expired"},
    [HC_ENOTYET] = {"ENOTYET", "token not yet valid"},
    [HC_EPERM] = {"EPERM", "not permitted"},
    [HC_EGAP] = {"EGAP", "sequence gap"},
    [HC_ENOTFOUND] = {"ENOTFOUND", "not found"},
    [HC_EEXIST] = {"EEXIST", "already exists"},
    [HC_EAGAIN] = {"EAGAIN", "try again"},
    [HC_EFULL] = {"EFULL", "full"},
    [HC_EIO] = {"EIO", "I/O error"},
    [HC_ETIMEOUT] = {"ETIMEOUT", "timed out"},
    [HC_ECLOSED] = {"ECLOSED", "closed"},
    [HC_ECONFIG] = {"ECONFIG", "bad configuration"},
    [HC_ECODEC] = {"ECODEC", "codec failure"},
    [HC_EINTERNAL] = {"EINTERNAL", "internal error"},
};

static int norm(int code)
{
    if (code < 0) code = -code;
    if (code < 0 || code >= HC_ERR_COUNT || !errs[code].name) return -1;
    return code;
}

const char *hc_strerror(int code)
{
    int c = norm(code);
    return c < 0 ? "unknown error" : errs[c].text;
}

const char *hc_errname(int code)
{
    int c = norm(code);
    return c < 0 ? "EUNKNOWN" : errs[c].name;
}
