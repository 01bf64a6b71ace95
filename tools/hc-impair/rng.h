/*
 * rng.h - the small deterministic random generator of hc-impair.
 *
 * Every random decision of the link emulator (loss, burst state, duplication,
 * jitter, reordering) draws from its own stream so that a run is reproducible
 * from --seed alone: the numbers a stream hands out depend only on the order
 * of packets, never on when the event loop happened to wake up.
 *
 * Generator: xoshiro256** seeded through splitmix64 (Blackman and Vigna,
 * "Scrambled linear pseudorandom number generators", 2018). Not for secrets.
 *
 * Ownership and threading: plain values, no global state; one owner each.
 */
#ifndef HC_IMPAIR_RNG_H
#define HC_IMPAIR_RNG_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct hc_imp_rng {
    uint64_t s[4];
} hc_imp_rng_t;

static inline uint64_t hc_imp_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Seed a stream; `stream` separates the streams derived from one seed. */
static inline void hc_imp_rng_seed(hc_imp_rng_t *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ull);
    for (int i = 0; i < 4; i++) r->s[i] = hc_imp_splitmix64(&x);
}

static inline uint64_t hc_imp_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t hc_imp_rng_next(hc_imp_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t out = hc_imp_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = hc_imp_rotl(s[3], 45);
    return out;
}

/* Uniform in [0, 1) with 53 bits. */
static inline double hc_imp_rng_unit(hc_imp_rng_t *r)
{
    return (double)(hc_imp_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* True with probability p (p <= 0 never, p >= 1 always). */
static inline bool hc_imp_rng_chance(hc_imp_rng_t *r, double p)
{
    if (p <= 0.0) return false;
    if (p >= 1.0) return true;
    return hc_imp_rng_unit(r) < p;
}

/* Standard normal sample (Box-Muller, one of the pair). */
static inline double hc_imp_rng_normal(hc_imp_rng_t *r)
{
    double u1 = 1.0 - hc_imp_rng_unit(r); /* (0, 1]: log() stays finite */
    double u2 = hc_imp_rng_unit(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
