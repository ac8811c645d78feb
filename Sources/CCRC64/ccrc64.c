// CRC-64/XZ, written for vodingest: OSS and COS return it for every object and part, and it is the
// digest both the client and the emulator compute over every byte, so it must cost little.
//
// Folding (after Gopal et al., "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ"), in
// the reflected domain: a 64-bit word w stands for sum(w_i x^(63-i)), a 16-byte block (lo, hi) for
// lo(x) x^64 + hi(x), and clmul(a, b) read as such a block is a(x) b(x) x. Moving an accumulator
// (lo, hi) forward by n bits is then clmul(lo, x^(n+63) mod P) ^ clmul(hi, x^(n-1) mod P), and the
// accumulator's own CRC is the table CRC of its 16 bytes. The constants are computed, not copied.
#include "ccrc64.h"

#include <string.h>

#define POLY_REFLECTED 0xC96C5795D7870F42ULL
#define POLY_NORMAL 0x42F0E1EBA9EA3693ULL

static uint64_t table[8][256];
static uint64_t k_fold512_lo, k_fold512_hi, k_fold128_lo, k_fold128_hi;
static int accelerated = 0;

static uint64_t reverse64(uint64_t v) {
    uint64_t r = 0;
    for (int i = 0; i < 64; i++) {
        r = (r << 1) | (v & 1);
        v >>= 1;
    }
    return r;
}

/// x^n mod P, reflected.
static uint64_t xpow_mod(unsigned n) {
    uint64_t r = 1;  // x^0, normal order: bit j is x^j
    for (unsigned i = 0; i < n; i++) {
        uint64_t carry = r >> 63;
        r <<= 1;
        if (carry) r ^= POLY_NORMAL;
    }
    return reverse64(r);
}

__attribute__((constructor)) static void ccrc64_init(void) {
    for (int i = 0; i < 256; i++) {
        uint64_t crc = (uint64_t)i;
        for (int k = 0; k < 8; k++) crc = (crc & 1) ? (crc >> 1) ^ POLY_REFLECTED : crc >> 1;
        table[0][i] = crc;
    }
    for (int i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++) table[k][i] = (table[k - 1][i] >> 8) ^ table[0][table[k - 1][i] & 0xFF];
    k_fold512_lo = xpow_mod(512 + 63);
    k_fold512_hi = xpow_mod(512 - 1);
    k_fold128_lo = xpow_mod(128 + 63);
    k_fold128_hi = xpow_mod(128 - 1);
#if defined(__x86_64__)
    __builtin_cpu_init();
    accelerated = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
}

uint64_t ccrc64_update_table(uint64_t crc, const void *bytes, size_t n) {
    const uint8_t *p = (const uint8_t *)bytes;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        crc ^= w;  // little-endian load: the table is built for it
        crc = table[7][crc & 0xFF] ^ table[6][(crc >> 8) & 0xFF] ^ table[5][(crc >> 16) & 0xFF] ^ table[4][(crc >> 24) & 0xFF]
            ^ table[3][(crc >> 32) & 0xFF] ^ table[2][(crc >> 40) & 0xFF] ^ table[1][(crc >> 48) & 0xFF] ^ table[0][crc >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

int ccrc64_accelerated(void) { return accelerated; }

#if defined(__x86_64__) && !defined(__BIG_ENDIAN__)
#include <immintrin.h>

__attribute__((target("pclmul,sse4.1"))) static inline __m128i fold(__m128i acc, __m128i k) {
    // k: lo lane multiplies acc's lo word, hi lane acc's hi word.
    return _mm_xor_si128(_mm_clmulepi64_si128(acc, k, 0x00), _mm_clmulepi64_si128(acc, k, 0x11));
}

__attribute__((target("pclmul,sse4.1"))) static uint64_t folded(uint64_t crc, const uint8_t *p, size_t n) {
    // n >= 64
    const __m128i k512 = _mm_set_epi64x((long long)k_fold512_hi, (long long)k_fold512_lo);
    const __m128i k128 = _mm_set_epi64x((long long)k_fold128_hi, (long long)k_fold128_lo);
    __m128i a0 = _mm_loadu_si128((const __m128i *)(p + 0));
    __m128i a1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i a2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i a3 = _mm_loadu_si128((const __m128i *)(p + 48));
    a0 = _mm_xor_si128(a0, _mm_set_epi64x(0, (long long)crc));  // the register enters with the first 8 bytes
    p += 64;
    n -= 64;
    while (n >= 64) {
        a0 = _mm_xor_si128(fold(a0, k512), _mm_loadu_si128((const __m128i *)(p + 0)));
        a1 = _mm_xor_si128(fold(a1, k512), _mm_loadu_si128((const __m128i *)(p + 16)));
        a2 = _mm_xor_si128(fold(a2, k512), _mm_loadu_si128((const __m128i *)(p + 32)));
        a3 = _mm_xor_si128(fold(a3, k512), _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        n -= 64;
    }
    // Four accumulators into one, 128 bits at a time.
    __m128i acc = _mm_xor_si128(fold(a0, k128), a1);
    acc = _mm_xor_si128(fold(acc, k128), a2);
    acc = _mm_xor_si128(fold(acc, k128), a3);
    while (n >= 16) {
        acc = _mm_xor_si128(fold(acc, k128), _mm_loadu_si128((const __m128i *)p));
        p += 16;
        n -= 16;
    }
    uint8_t block[16];
    _mm_storeu_si128((__m128i *)block, acc);
    crc = ccrc64_update_table(0, block, 16);
    return ccrc64_update_table(crc, p, n);
}
#endif

uint64_t ccrc64_update(uint64_t crc, const void *bytes, size_t n) {
#if defined(__x86_64__) && !defined(__BIG_ENDIAN__)
    if (accelerated && n >= 64) return folded(crc, (const uint8_t *)bytes, n);
#endif
    return ccrc64_update_table(crc, bytes, n);
}
