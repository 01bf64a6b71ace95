/*
 * pool.h - fixed pool of packet slots for hc-impair.
 *
 * All datagrams in flight through the emulator live in slots allocated once
 * at start, so memory is bounded and nothing is allocated per packet. A slot
 * carries the datagram bytes, its length, a reference count (a duplicated
 * packet is the same slot referenced twice) and a 32-bit tag the proxy uses
 * to remember which client the packet belongs to.
 *
 * Ownership: hc_imp_pool_new() allocates; hc_imp_pool_destroy() frees and sets
 * the pointer to NULL. hc_imp_pool_data() returns a pointer into the pool,
 * valid while the slot holds a reference.
 * Threading: single-threaded; no locks.
 */
#ifndef HC_IMPAIR_POOL_H
#define HC_IMPAIR_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct hc_imp_pool hc_imp_pool_t;

/* nslots slots of slot_size bytes each. Returns 0 or -HC_EINVAL/-HC_ENOMEM. */
int hc_imp_pool_new(hc_imp_pool_t **out, uint32_t nslots, uint32_t slot_size);
void hc_imp_pool_destroy(hc_imp_pool_t **pool);

/* Take a free slot (reference count 1): its index, or -HC_EFULL. */
int64_t hc_imp_pool_get(hc_imp_pool_t *p);
/* Add a reference (duplication). */
void hc_imp_pool_ref(hc_imp_pool_t *p, uint32_t slot);
/* Drop a reference; the slot is free again when the count reaches zero. */
void hc_imp_pool_put(hc_imp_pool_t *p, uint32_t slot);

uint8_t *hc_imp_pool_data(hc_imp_pool_t *p, uint32_t slot);
void hc_imp_pool_set_tag(hc_imp_pool_t *p, uint32_t slot, uint32_t tag);
uint32_t hc_imp_pool_tag(const hc_imp_pool_t *p, uint32_t slot);

uint32_t hc_imp_pool_slot_size(const hc_imp_pool_t *p);
uint32_t hc_imp_pool_nslots(const hc_imp_pool_t *p);
uint32_t hc_imp_pool_free_count(const hc_imp_pool_t *p);

#endif
