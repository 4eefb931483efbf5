// Matrix products y = a·wᵀ (+ bias) with AVX-512, for the BLAS backend's `linear` (Sources/Compute/BLASBackend.swift)
// where the inner dimension k is small (Hiera's first stages: k = 96-288 over 16-65k rows).
//
// Why not sgemm there: OpenBLAS packs the activations for every call, which costs about as much as the arithmetic
// when k is small, and the caller then needs a second pass over the (large) output for an activation. Here the
// weights are packed once per call into 32-column panels ([n/32][k][32]; a weight matrix is small next to the
// activations) and the activations are read in place: a 12x32 register tile broadcasts one element of each of 12
// rows of a against two 16-lane vectors of a panel per step of k. The caller works through ~200-row blocks and
// can apply its activation to each block while it is still in L2. For large k and n sgemm stays faster (its
// kernels run at ~100% of peak on hiera-l's 4096x576x2304 products, this one at 90-95%), so Compute uses this
// only for small k (`BLASBackend.linear`, BENCHMARKS.md).
#include "CKernels.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include "avx512_util.h"

#define NR 32          // columns per panel (two 16-lane vectors)
#define MR 12          // rows per register tile (24 accumulators)
#define KC_MAX 640     // longest k step kept in one pass (a 12-row strip of a then stays in L1)
#define PANEL_BLOCK_BYTES (512 * 1024)  // packed panels swept per pass over a row block (kept in L2)

size_t pn_gemm_packed_floats(long n, long k) { return (size_t)((n + NR - 1) / NR) * NR * (size_t)k; }

TGT void pn_gemm_pack_weights(const float *w, long ldw, long n, long k, long j0, long j1, float *packed) {
    for (long p = j0 / NR; p < (j1 + NR - 1) / NR; p++) {
        for (long h = 0; h < 2; h++) {
            long r0 = p * NR + 16 * h;
            float *o = packed + p * k * NR + 16 * h;
            for (long t0 = 0; t0 < k; t0 += 16) {
                long kb = k - t0 < 16 ? k - t0 : 16;
                __mmask16 km = lanes(kb);
                __m512 r[16];
                for (long j = 0; j < 16; j++) {
                    r[j] = r0 + j < n ? _mm512_maskz_loadu_ps(km, w + (r0 + j) * ldw + t0) : _mm512_setzero_ps();
                }
                transpose16(r);
                for (long t = 0; t < kb; t++) _mm512_store_ps(o + (t0 + t) * NR, r[t]);
            }
        }
    }
}

// One register tile: rows [0, mr) of a (k steps [0, kb)) against one panel slice b ([kb][32]); c += (accumulate) or
// = (bias or zero first) the product. m0/m1 mask the panel's valid columns.
static inline __attribute__((always_inline)) TGT void tile(int mr, const float *a, long lda, const float *b, long kb,
                                                           float *c, long ldc, int accumulate, const float *bias,
                                                           __mmask16 m0, __mmask16 m1) {
    __m512 acc[MR][2];
    for (int r = 0; r < mr; r++) {
        if (accumulate) {
            acc[r][0] = _mm512_maskz_loadu_ps(m0, c + r * ldc);
            acc[r][1] = _mm512_maskz_loadu_ps(m1, c + r * ldc + 16);
        } else if (bias) {
            acc[r][0] = _mm512_maskz_loadu_ps(m0, bias);
            acc[r][1] = _mm512_maskz_loadu_ps(m1, bias + 16);
        } else {
            acc[r][0] = _mm512_setzero_ps();
            acc[r][1] = _mm512_setzero_ps();
        }
    }
    // Four row pointers (rows 3q..3q+2 at +0, +lda, +2·lda) keep the address arithmetic per step small.
    const float *a0 = a, *a3 = a + 3 * lda, *a6 = a + 6 * lda, *a9 = a + 9 * lda;
    for (long kk = 0; kk < kb; kk++) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        b += NR;
        for (int r = 0; r < mr; r++) {
            const float *row = r < 3 ? a0 : r < 6 ? a3 : r < 9 ? a6 : a9;
            __m512 av = _mm512_set1_ps(row[(r % 3) * lda]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
        a0++, a3++, a6++, a9++;
    }
    for (int r = 0; r < mr; r++) {
        _mm512_mask_storeu_ps(c + r * ldc, m0, acc[r][0]);
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc[r][1]);
    }
}

TGT void pn_gemm_avx512(const float *a, long lda, long m, long k, const float *packed, long n, const float *bias, float *y,
                        long ldy) {
    if (m <= 0 || n <= 0 || k <= 0) return;
    long panels = (n + NR - 1) / NR;
    long kblocks = (k + KC_MAX - 1) / KC_MAX;
    long kc = ((k + kblocks - 1) / kblocks + 7) / 8 * 8;
    long panelBlock = PANEL_BLOCK_BYTES / (kc * NR * (long)sizeof(float));
    if (panelBlock < 1) panelBlock = 1;
    // Panel blocks outermost (they stay in L2 while the rows pass), then k steps (the output block stays in L2),
    // then 12-row strips (in L1 while the block's panels pass).
    for (long p0 = 0; p0 < panels; p0 += panelBlock) {
        long p1 = p0 + panelBlock < panels ? p0 + panelBlock : panels;
        for (long k0 = 0; k0 < k; k0 += kc) {
            long kb = k - k0 < kc ? k - k0 : kc;
            for (long i = 0; i < m; i += MR) {
                long mr = m - i < MR ? m - i : MR;
                const float *ap = a + i * lda + k0;
                for (long p = p0; p < p1; p++) {
                    long valid = n - p * NR < NR ? n - p * NR : NR;
                    __mmask16 m0 = lanes(valid), m1 = lanes(valid - 16);
                    const float *b = packed + p * k * NR + k0 * NR;
                    const float *bp = bias ? bias + p * NR : 0;
                    float *c = y + i * ldy + p * NR;
                    switch (mr) {
#define TILE(R) case R: tile(R, ap, lda, b, kb, c, ldy, k0 > 0, bp, m0, m1); break;
                    TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7) TILE(8) TILE(9) TILE(10) TILE(11) TILE(12)
#undef TILE
                    }
                }
            }
        }
    }
}

#else  // not x86-64: no AVX-512; Compute uses OpenBLAS.

size_t pn_gemm_packed_floats(long n, long k) { (void)n; (void)k; return 0; }

void pn_gemm_pack_weights(const float *w, long ldw, long n, long k, long j0, long j1, float *packed) {
    (void)w; (void)ldw; (void)n; (void)k; (void)j0; (void)j1; (void)packed;
}

void pn_gemm_avx512(const float *a, long lda, long m, long k, const float *packed, long n, const float *bias, float *y,
                    long ldy) {
    (void)a; (void)lda; (void)m; (void)k; (void)packed; (void)n; (void)bias; (void)y; (void)ldy;
}

#endif
