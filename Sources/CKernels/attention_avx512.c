// Non-causal attention of one head with AVX-512, for the BLAS backend (Sources/Compute/BLASBackend+Attention.swift).
//
// K is packed once per call as Kᵀ in tiles of 32 keys ([keys/32][d][32], each tile contiguous) and V as [keys][dp]
// (dp = d rounded up to 16, zero padded), so queries read them without the per-call repacking an sgemm does.
// Queries go in blocks of 16 (in super-blocks of 256 whose outputs stay in L2 when K and V do not fit there); each
// chunk of 128 keys gives S = (scale·Q)·Kᵀ (8x32 register tiles), an online softmax (running max and sum per row,
// exp on 16 lanes) and O += P·V (4 or 2 rows x dp register tiles). Only the functions in this file are compiled
// for AVX-512 (target attributes); callers check pn_avx512_available() first.
#include "CKernels.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include "avx512_util.h"
#include <math.h>
#include <string.h>

#define QB 16    // queries per block
#define SB 256   // queries per super-block (a multiple of QB): their outputs stay in L2 while key chunks pass
#define KC 128   // keys per chunk (multiple of 32; 64-256 measured alike)

int pn_avx512_available(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    }
    return cached;
}

static long round_up(long x, long m) { return (x + m - 1) / m * m; }

size_t pn_attention_scratch_floats(long keys, long d) {
    long dp = round_up(d, 16), kp = round_up(keys, 32);
    // Kᵀ, V, Q block, S block, O block, running max and sum; +16 per part for alignment.
    return (size_t)(d * kp + kp * dp + SB * d + QB * KC + SB * dp + 2 * SB + 7 * 16);
}

// exp(x) for x <= 0 (scores minus their running max), Cephes polynomial; -inf and very negative inputs give 0.
static inline TGT __m512 exp512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 y = exp_reduced(x, n);
    return _mm512_scalef_ps(y, n);
}

static float *aligned_part(float **cursor, long count) {
    float *p = (float *)(((size_t)*cursor + 63) & ~(size_t)63);
    *cursor = p + count;
    return p;
}

// S[r][0..<32] for 8 query rows of qb = qb[r]·(the 32 keys of one Kᵀ tile, [d][32]).
static inline TGT void scores_8x32(const float *qb, long d, const float *tile, float *s, long lds) {
    __m512 acc[8][2];
    for (int r = 0; r < 8; r++) { acc[r][0] = _mm512_setzero_ps(); acc[r][1] = _mm512_setzero_ps(); }
    for (long e = 0; e < d; e++) {
        __m512 k0 = _mm512_load_ps(tile + e * 32), k1 = _mm512_load_ps(tile + e * 32 + 16);
        for (int r = 0; r < 8; r++) {
            __m512 qv = _mm512_set1_ps(qb[r * d + e]);
            acc[r][0] = _mm512_fmadd_ps(qv, k0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(qv, k1, acc[r][1]);
        }
    }
    for (int r = 0; r < 8; r++) {
        _mm512_storeu_ps(s + r * lds, acc[r][0]);
        _mm512_storeu_ps(s + r * lds + 16, acc[r][1]);
    }
}

// O[r][:dp] += Σ_j P[r][j] · V[j][:dp] for R rows, DZ = dp / 16 vectors per row.
#define PV_KERNEL(R, DZ)                                                                                    \
    static inline TGT void pv_##R##_##DZ(const float *p, long ldp, const float *vp, long dp, long n, float *o) { \
        __m512 acc[R][DZ];                                                                                  \
        for (int r = 0; r < R; r++)                                                                         \
            for (int z = 0; z < DZ; z++) acc[r][z] = _mm512_loadu_ps(o + r * dp + 16 * z);                  \
        for (long j = 0; j < n; j++) {                                                                      \
            __m512 vv[DZ];                                                                                  \
            for (int z = 0; z < DZ; z++) vv[z] = _mm512_loadu_ps(vp + j * dp + 16 * z);                     \
            for (int r = 0; r < R; r++) {                                                                   \
                __m512 pr = _mm512_set1_ps(p[r * ldp + j]);                                                 \
                for (int z = 0; z < DZ; z++) acc[r][z] = _mm512_fmadd_ps(pr, vv[z], acc[r][z]);             \
            }                                                                                               \
        }                                                                                                   \
        for (int r = 0; r < R; r++)                                                                         \
            for (int z = 0; z < DZ; z++) _mm512_storeu_ps(o + r * dp + 16 * z, acc[r][z]);                  \
    }
PV_KERNEL(4, 1) PV_KERNEL(4, 2) PV_KERNEL(4, 3) PV_KERNEL(4, 4) PV_KERNEL(4, 5) PV_KERNEL(4, 6)
PV_KERNEL(2, 7) PV_KERNEL(2, 8)

static TGT void pv_block(const float *p, long ldp, const float *vp, long dp, long n, float *o) {
    switch (dp / 16) {
    case 1: for (int r = 0; r < QB; r += 4) pv_4_1(p + r * ldp, ldp, vp, dp, n, o + r * dp); break;
    case 2: for (int r = 0; r < QB; r += 4) pv_4_2(p + r * ldp, ldp, vp, dp, n, o + r * dp); break;
    case 3: for (int r = 0; r < QB; r += 4) pv_4_3(p + r * ldp, ldp, vp, dp, n, o + r * dp); break;
    case 4: for (int r = 0; r < QB; r += 4) pv_4_4(p + r * ldp, ldp, vp, dp, n, o + r * dp); break;
    case 5: for (int r = 0; r < QB; r += 4) pv_4_5(p + r * ldp, ldp, vp, dp, n, o + r * dp); break;
    case 6: for (int r = 0; r < QB; r += 4) pv_4_6(p + r * ldp, ldp, vp, dp, n, o + r * dp); break;
    case 7: for (int r = 0; r < QB; r += 2) pv_2_7(p + r * ldp, ldp, vp, dp, n, o + r * dp); break;
    default: for (int r = 0; r < QB; r += 2) pv_2_8(p + r * ldp, ldp, vp, dp, n, o + r * dp); break;
    }
}

// One row of the online softmax over `valid` scores (of `span`, the rest zeroed): scores become probabilities
// against the running max *m, the running sum *l and the row's output accumulator o rescale when the max grows.
static inline TGT void softmax_row(float *sr, long valid, long span, float *m, float *l, float *o, long dp) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    long j = 0;
    for (; j + 16 <= valid; j += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(sr + j));
    float rowMax = _mm512_reduce_max_ps(mx);
    for (; j < valid; j++) rowMax = sr[j] > rowMax ? sr[j] : rowMax;
    float newMax = *m > rowMax ? *m : rowMax;
    if (*m != -INFINITY && newMax > *m) {
        float corr = expf(*m - newMax);
        *l *= corr;
        for (long e = 0; e < dp; e++) o[e] *= corr;
    }
    *m = newMax;
    __m512 nm = _mm512_set1_ps(newMax), sum = _mm512_setzero_ps();
    for (j = 0; j + 16 <= valid; j += 16) {
        __m512 p = exp512(_mm512_sub_ps(_mm512_loadu_ps(sr + j), nm));
        _mm512_storeu_ps(sr + j, p);
        sum = _mm512_add_ps(sum, p);
    }
    if (j < valid) {
        __mmask16 mask = (__mmask16)((1u << (valid - j)) - 1);
        __m512 p = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, sr + j), nm));
        p = _mm512_maskz_mov_ps(mask, p);
        _mm512_storeu_ps(sr + j, p);
        sum = _mm512_add_ps(sum, p);
        j += 16;
    }
    for (; j < span; j += 16) _mm512_storeu_ps(sr + j, _mm512_setzero_ps());
    *l += _mm512_reduce_add_ps(sum);
}

TGT void pn_attention_avx512(const float *q, long ldq, const float *k, long ldk, const float *v, long ldv, float *out,
                             long ldo, long rows, long keys, long d, float scale, float *scratch) {
    long dp = round_up(d, 16), kp = round_up(keys, 32);
    float *cursor = scratch;
    float *kt = aligned_part(&cursor, d * kp);
    float *vp = aligned_part(&cursor, kp * dp);
    float *qs = aligned_part(&cursor, SB * d);
    float *s = aligned_part(&cursor, QB * KC);
    float *o = aligned_part(&cursor, SB * dp);
    float *m = aligned_part(&cursor, SB);
    float *l = aligned_part(&cursor, SB);

    // Kᵀ tiles from 16x16 register transposes (16 keys x 16 channels at a time; keys past the end are zeros). A
    // scalar scatter here was 11% of a hiera-l windowed block and most of a q-pooled one (49 queries per window).
    for (long kb = 0; kb < kp / 16; kb++) {
        float *tile = kt + (kb / 2) * 32 * d + (kb % 2) * 16;
        for (long e0 = 0; e0 < d; e0 += 16) {
            __mmask16 em = lanes(d - e0);
            __m512 r[16];
            for (long i = 0; i < 16; i++) {
                long j = kb * 16 + i;
                r[i] = j < keys ? _mm512_maskz_loadu_ps(em, k + j * ldk + e0) : _mm512_setzero_ps();
            }
            transpose16(r);
            for (long i = 0; i < 16 && e0 + i < d; i++) _mm512_store_ps(tile + (e0 + i) * 32, r[i]);
        }
    }
    for (long j = 0; j < kp; j++) {
        float *dst = vp + j * dp;
        if (j < keys) {
            memcpy(dst, v + j * ldv, (size_t)d * sizeof(float));
            for (long e = d; e < dp; e++) dst[e] = 0;
        } else {
            memset(dst, 0, (size_t)dp * sizeof(float));
        }
    }

    // When Kᵀ and V fit in L2 with room to spare, one query block at a time keeps its outputs in L1 (a hiera-l
    // windowed block, 16 x 256 tokens: 12.8 ms vs 14.1 ms); otherwise super-blocks keep each K/V chunk in L2 while
    // it serves 16 query blocks (the global block: 251 vs 211 GFLOP/s).
    long sb = (d + dp) * kp * (long)sizeof(float) <= 512 * 1024 ? QB : SB;
    for (long r0 = 0; r0 < rows; r0 += sb) {
        long sn = rows - r0 < sb ? rows - r0 : sb;  // queries in this super-block
        long blocks = (sn + QB - 1) / QB;
        for (long r = 0; r < blocks * QB; r++)
            for (long e = 0; e < d; e++) qs[r * d + e] = r < sn ? q[(r0 + r) * ldq + e] * scale : 0;
        memset(o, 0, (size_t)(blocks * QB * dp) * sizeof(float));
        for (long r = 0; r < blocks * QB; r++) { m[r] = -INFINITY; l[r] = 0; }

        // Each chunk of keys (its Kᵀ tiles and V rows stay in L2) serves every query block of the super-block.
        for (long c0 = 0; c0 < keys; c0 += KC) {
            long valid = keys - c0 < KC ? keys - c0 : KC;
            long span = round_up(valid, 32);
            for (long b = 0; b < blocks; b++) {
                const float *qb = qs + b * QB * d;
                float *ob = o + b * QB * dp, *mb = m + b * QB, *lb = l + b * QB;
                for (long j = 0; j < span; j += 32) {
                    const float *tile = kt + (c0 + j) * d;  // tile (c0 + j) / 32
                    scores_8x32(qb, d, tile, s + j, KC);
                    scores_8x32(qb + 8 * d, d, tile, s + 8 * KC + j, KC);
                }
                for (long r = 0; r < QB; r++) softmax_row(s + r * KC, valid, span, mb + r, lb + r, ob + r * dp, dp);
                pv_block(s, KC, vp + c0 * dp, dp, span, ob);
            }
        }
        for (long r = 0; r < sn; r++) {
            float inv = l[r] > 0 ? 1 / l[r] : 0;
            for (long e = 0; e < d; e++) out[(r0 + r) * ldo + e] = o[r * dp + e] * inv;
        }
    }
}



// Four query rows (rows past `rn` repeat the last one and are not stored) against NK vectors of 16 keys.
static inline __attribute__((always_inline)) TGT void small_rows(const int NK, const float *q, long ldq, long rn,
                                                                 const float *kt, const float *v, long ldv, float *out,
                                                                 long ldo, long keys, long d) {
    const float *qr[4];
    for (int r = 0; r < 4; r++) qr[r] = q + (r < rn ? r : rn - 1) * ldq;
    __m512 s[4][4];
    for (int r = 0; r < 4; r++)
        for (int z = 0; z < NK; z++) s[r][z] = _mm512_setzero_ps();
    for (long c = 0; c < d; c++) {
        __m512 kv[4];
        for (int z = 0; z < NK; z++) kv[z] = _mm512_load_ps(kt + c * 64 + 16 * z);
        for (int r = 0; r < 4; r++) {
            __m512 qv = _mm512_set1_ps(qr[r][c]);
            for (int z = 0; z < NK; z++) s[r][z] = _mm512_fmadd_ps(qv, kv[z], s[r][z]);
        }
    }
    // Softmax per row over the valid keys (the last vector masked).
    float p[4][64] __attribute__((aligned(64)));
    float inv[4];
    __mmask16 last = lanes(keys - 16 * (NK - 1));
    for (int r = 0; r < 4; r++) {
        __m512 mx = _mm512_set1_ps(-INFINITY);
        for (int z = 0; z < NK; z++) mx = _mm512_mask_max_ps(mx, z == NK - 1 ? last : (__mmask16)0xFFFF, mx, s[r][z]);
        __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), sum = _mm512_setzero_ps();
        for (int z = 0; z < NK; z++) {
            __m512 e = _mm512_maskz_mov_ps(z == NK - 1 ? last : (__mmask16)0xFFFF, exp512(_mm512_sub_ps(s[r][z], m)));
            _mm512_store_ps(p[r] + 16 * z, e);
            sum = _mm512_add_ps(sum, e);
        }
        inv[r] = 1 / _mm512_reduce_add_ps(sum);
    }
    // O = P·V, up to six 16-lane column vectors of V at a time (24 accumulators).
    for (long c0 = 0; c0 < d; c0 += 96) {
        int nz = (int)((d - c0 + 15) / 16);
        if (nz > 6) nz = 6;
        __m512 acc[4][6];
        for (int r = 0; r < 4; r++)
            for (int z = 0; z < 6; z++) acc[r][z] = _mm512_setzero_ps();
        for (long j = 0; j < keys; j++) {
            __m512 vv[6];
            for (int z = 0; z < 6; z++)
                vv[z] = z < nz ? _mm512_maskz_loadu_ps(lanes(d - c0 - 16 * z), v + j * ldv + c0 + 16 * z) : _mm512_setzero_ps();
            for (int r = 0; r < 4; r++) {
                __m512 pr = _mm512_set1_ps(p[r][j]);
                for (int z = 0; z < 6; z++) acc[r][z] = _mm512_fmadd_ps(pr, vv[z], acc[r][z]);
            }
        }
        for (int r = 0; r < rn; r++)
            for (int z = 0; z < nz; z++)
                _mm512_mask_storeu_ps(out + r * ldo + c0 + 16 * z, lanes(d - c0 - 16 * z),
                                      _mm512_mul_ps(acc[r][z], _mm512_set1_ps(inv[r])));
    }
}

TGT void pn_attention_small_avx512(const float *q, long ldq, const float *k, long ldk, const float *v, long ldv, float *out,
                                   long ldo, long rows, long keys, long d, float scale) {
    if (rows <= 0 || keys <= 0 || keys > 64 || d <= 0 || d > 128) return;
    // Kᵀ [d][64] with the scale folded in, built from 16x16 register transposes.
    float kt[128 * 64] __attribute__((aligned(64)));
    long nk = (keys + 15) / 16;
    __m512 sc = _mm512_set1_ps(scale);
    for (long kb = 0; kb < nk; kb++) {
        for (long c0 = 0; c0 < d; c0 += 16) {
            __mmask16 cm = lanes(d - c0);
            __m512 r[16];
            for (long i = 0; i < 16; i++) {
                long j = kb * 16 + i;
                r[i] = j < keys ? _mm512_mul_ps(_mm512_maskz_loadu_ps(cm, k + j * ldk + c0), sc) : _mm512_setzero_ps();
            }
            transpose16(r);
            for (long i = 0; i < 16 && c0 + i < d; i++) _mm512_store_ps(kt + (c0 + i) * 64 + kb * 16, r[i]);
        }
    }
    for (long r0 = 0; r0 < rows; r0 += 4) {
        long rn = rows - r0 < 4 ? rows - r0 : 4;
        const float *qb = q + r0 * ldq;
        float *ob = out + r0 * ldo;
        switch (nk) {
        case 1: small_rows(1, qb, ldq, rn, kt, v, ldv, ob, ldo, keys, d); break;
        case 2: small_rows(2, qb, ldq, rn, kt, v, ldv, ob, ldo, keys, d); break;
        case 3: small_rows(3, qb, ldq, rn, kt, v, ldv, ob, ldo, keys, d); break;
        default: small_rows(4, qb, ldq, rn, kt, v, ldv, ob, ldo, keys, d); break;
        }
    }
}

#else  // not x86-64: no AVX-512; Compute uses its OpenBLAS path.

int pn_avx512_available(void) { return 0; }

size_t pn_attention_scratch_floats(long keys, long d) { (void)keys; (void)d; return 0; }

void pn_attention_small_avx512(const float *q, long ldq, const float *k, long ldk, const float *v, long ldv, float *out,
                               long ldo, long rows, long keys, long d, float scale) {
    (void)q; (void)ldq; (void)k; (void)ldk; (void)v; (void)ldv; (void)out; (void)ldo; (void)rows; (void)keys; (void)d;
    (void)scale;
}

void pn_attention_avx512(const float *q, long ldq, const float *k, long ldk, const float *v, long ldv, float *out,
                         long ldo, long rows, long keys, long d, float scale, float *scratch) {
    (void)q; (void)ldq; (void)k; (void)ldk; (void)v; (void)ldv; (void)out; (void)ldo; (void)rows; (void)keys; (void)d;
    (void)scale; (void)scratch;
}

#endif
