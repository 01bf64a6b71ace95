/*
 * tls.h - the signaling server's certificate: a self-signed one made at
 * first start when the config names none, so hc-relay speaks wss:// out of
 * the box (clients pin it with `hc-ctl --ca FILE` or accept it with
 * --insecure).
 *
 * The pair is an EC P-256 key (RFC 5480) and an X.509 v3 certificate
 * (RFC 5280) valid for 10 years: subject and issuer CN = the host name,
 * subjectAltName DNS:<host>, DNS:localhost, IP:127.0.0.1, IP:::1,
 * basicConstraints CA:TRUE (so a client can use the file itself as its
 * trust anchor), keyUsage digitalSignature+keyCertSign, extendedKeyUsage
 * serverAuth, a random 128-bit serial, signed with ECDSA-SHA256. Files:
 * <dir>/sig-cert.pem (0644) and <dir>/sig-key.pem (0600, written through a
 * temporary file and renamed, so a crash never leaves half a key). An
 * existing pair is reused as it is.
 *
 * Ownership: paths are written into caller buffers.
 * Threading: call at start-up, before other threads use OpenSSL state.
 */
#ifndef HC_RELAY_TLS_H
#define HC_RELAY_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* Make sure dir holds a certificate and key, creating dir (0700) and the
 * pair when missing. host: the CN (NULL or "" = gethostname()). Writes the
 * two paths and sets *created. 0, or -HC_EIO / -HC_EINTERNAL with a
 * message in err. */
int hc_tls_selfsigned(const char *dir, const char *host, char *cert, size_t certcap, char *key,
                      size_t keycap, bool *created, char *err, size_t errcap);

#endif
