/*
 * err.h - the one error enum of Hillcast and hc_strerror().
 *
 * Every fallible function in proto/, relay/core/ and the programs returns
 * either a non-negative result (often bytes consumed or written) or the
 * negation of one of these codes, e.g. `return -HC_ETRUNC;`.
 *
 * Ownership: hc_strerror() returns a pointer to a static string; never free.
 * Threading: all functions here are thread-safe.
 */
#ifndef HC_PROTO_ERR_H
#define HC_PROTO_ERR_H

typedef enum hc_err {
    HC_OK = 0,
    HC_EINVAL,       /* invalid argument (programmer or caller error) */
    HC_ETRUNC,       /* input shorter than its own length fields say */
    HC_ENOSPC,       /* output buffer too small */
    HC_EVERSION,     /* wrong protocol version */
    HC_EMALFORMED,   /* input violates the wire format */
    HC_EUNSUPPORTED, /* valid but not supported by us */
    HC_ERANGE,       /* value outside its allowed range */
    HC_ENOMEM,       /* allocation failed */
    HC_EAUTH,        /* SRTP/SRTCP authentication failed */
    HC_EREPLAY,      /* SRTP replay detected */
    HC_ESRTP,        /* other libsrtp failure */
    HC_EJSON,        /* text is not valid JSON */
    HC_ESCHEMA,      /* JSON does not follow the signaling schema */
    HC_ETOKEN,       /* token malformed */
    HC_ESIGNATURE,   /* token signature does not verify */
    HC_EEXPIRED,     /* token expired */
    HC_ENOTYET,      /* token not yet valid (nbf) */
    HC_EPERM,        /* role or scope does not allow this */
    HC_EGAP,         /* sequence gap: data lost */
    HC_ENOTFOUND,    /* no such object */
    HC_EEXIST,       /* object already exists */
    HC_EAGAIN,       /* try again later / would block */
    HC_EFULL,        /* table or queue full */
    HC_EIO,          /* I/O error (programs and relay/core only) */
    HC_ETIMEOUT,     /* deadline passed */
    HC_ECLOSED,      /* peer or object closed */
    HC_ECONFIG,      /* bad configuration */
    HC_ECODEC,       /* encoder/decoder failure */
    HC_EINTERNAL,    /* should not happen; a bug */
    HC_ERR_COUNT
} hc_err_t;

/* Text for a code; accepts either sign. Unknown codes give "unknown error". */
const char *hc_strerror(int code);

/* Short identifier for a code, e.g. "ETRUNC"; for metrics labels and logs. */
const char *hc_errname(int code);

#endif
