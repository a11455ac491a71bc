#ifndef CACHE_PREFETCH_H
#define CACHE_PREFETCH_H

/// Asks the CPU to start loading the cache line holding `address` (for a later read or write)
/// without waiting for it: independent misses then overlap instead of following each other.
/// A hint only: it never faults, never changes memory and may be ignored, so an address past
/// the end of a buffer is harmless. Inlined at the Swift call site.
static inline __attribute__((always_inline)) void cache_prefetch(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

#endif
