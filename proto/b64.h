/*
 * b64.h - base64 (RFC 4648 §4, padded) and base64url (RFC 4648 §5, unpadded).
 *
 * Used for JWT segments (RFC 7515 §2 "Base64url Encoding": no padding) and for
 * the SRTP master keys carried in the signaling "joined" reply (standard
 * alphabet with padding).
 *
 * Decoding is strict (RFC 4648 §3.3, §3.5): characters outside the alphabet,
 * whitespace, misplaced or missing padding, padding in base64url, and
 * non-zero trailing bits are all rejected, so every byte string has exactly
 * one accepted encoding.
 *
 * Ownership: callers supply the output buffers. Threading: pure functions.
 */
#ifndef HC_PROTO_B64_H
#define HC_PROTO_B64_H

#include <stddef.h>
#include <stdint.h>

/* Characters produced for n input bytes, not counting the terminating NUL. */
#define HC_B64_ENCLEN(n)    ((((n) + 2) / 3) * 4)
#define HC_B64URL_ENCLEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
/* Upper bound of bytes decoded from n characters (either alphabet). */
#define HC_B64_DECLEN(n) (((n) / 4) * 3 + ((n) % 4 ? (n) % 4 - 1 : 0))

/*
 * Encode len bytes into out (capacity cap, which must leave room for the NUL).
 * Returns the characters written (NUL not counted), -HC_ENOSPC when cap is too
 * small, -HC_EINVAL for NULL pointers or len above 1 GiB.
 */
int hc_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);
int hc_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/*
 * Decode len characters (no NUL needed) into out (capacity cap).
 * Returns bytes written, -HC_EMALFORMED for any encoding the strict rules
 * above reject, -HC_ENOSPC when cap is smaller than the decoded length,
 * -HC_EINVAL for NULL pointers or len above 1 GiB.
 */
int hc_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap);
int hc_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
