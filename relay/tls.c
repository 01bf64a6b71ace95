/*
 * tls.c - self-signed certificate for the signaling server (tls.h).
 */
#include "relay/tls.h"

#include "proto/err.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEN_YEARS_S (10L * 365 * 24 * 3600 + 3 * 24 * 3600)

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ex) return -1;
    int ok = X509_add_ext(x, ex, -1);
    X509_EXTENSION_free(ex);
    return ok ? 0 : -1;
}

/* Host names that could break the SAN syntax are left out of the SAN. */
static bool san_safe(const char *h)
{
    if (!*h || strlen(h) > 253) return false;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.'))
            return false;
    return true;
}

static int write_file_atomic(const char *path, mode_t mode, bool is_key, EVP_PKEY *pkey, X509 *x)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    int ok =
        is_key ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, x);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) ok = 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int hc_tls_selfsigned(const char *dir, const char *host, char *cert, size_t certcap, char *key,
                      size_t keycap, bool *created, char *err, size_t errcap)
{
    *created = false;
    if (!dir || !*dir) {
        snprintf(err, errcap, "no state directory for the certificate");
        return -HC_EINVAL;
    }
    if ((size_t)snprintf(cert, certcap, "%s/sig-cert.pem", dir) >= certcap ||
        (size_t)snprintf(key, keycap, "%s/sig-key.pem", dir) >= keycap) {
        snprintf(err, errcap, "state directory path too long");
        return -HC_EINVAL;
    }
    if (access(cert, R_OK) == 0 && access(key, R_OK) == 0) return 0;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errcap, "cannot create %s: %s", dir, strerror(errno));
        return -HC_EIO;
    }
    char hn[256] = "";
    if (host && *host)
        snprintf(hn, sizeof hn, "%s", host);
    else if (gethostname(hn, sizeof hn - 1) != 0 || !hn[0])
        snprintf(hn, sizeof hn, "localhost");

    int rc = -HC_EINTERNAL;
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = NULL;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    if (!pkey || !x) goto out;
    if (RAND_bytes(serial, sizeof serial) != 1) goto out;
    serial[0] &= 0x7f; /* RFC 5280 4.1.2.2: positive */
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) goto out;
    if (!X509_set_version(x, 2)) goto out; /* v3 */
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600)) goto out;
    if (!X509_gmtime_adj(X509_getm_notAfter(x), TEN_YEARS_S)) goto out;
    if (!X509_set_pubkey(x, pkey)) goto out;
    name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)hn, -1, -1,
                                    0))
        goto out;
    if (!X509_set_issuer_name(x, name)) goto out;
    char san[400];
    if (san_safe(hn) && strcmp(hn, "localhost"))
        snprintf(san, sizeof san, "DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", hn);
    else
        snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1,IP:::1");
    if (add_ext(x, NID_subject_alt_name, san) ||
        add_ext(x, NID_basic_constraints, "critical,CA:TRUE") ||
        add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") ||
        add_ext(x, NID_ext_key_usage, "serverAuth") ||
        add_ext(x, NID_subject_key_identifier, "hash"))
        goto out;
    if (!X509_sign(x, pkey, EVP_sha256())) goto out;

    if (write_file_atomic(key, 0600, true, pkey, NULL) ||
        write_file_atomic(cert, 0644, false, NULL, x)) {
        snprintf(err, errcap, "cannot write %s or %s: %s", key, cert, strerror(errno));
        unlink(key);
        rc = -HC_EIO;
        goto out;
    }
    *created = true;
    rc = 0;
out:
    if (rc == -HC_EINTERNAL) snprintf(err, errcap, "OpenSSL failed to make a certificate");
    BN_free(bn);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}
