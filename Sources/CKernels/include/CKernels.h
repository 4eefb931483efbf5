#ifndef PN_CKERNELS_H
#define PN_CKERNELS_H

#include <stddef.h>

/// 1 when this CPU (and OS) runs AVX-512F/DQ code, so the `*_avx512` functions may be called.
int pn_avx512_available(void);

/// Floats of scratch `pn_attention_avx512` needs for `keys` keys of head dimension `d`.
size_t pn_attention_scratch_floats(long keys, long d);

/// Non-causal softmax attention of one head: out[i, :d] = softmax_j(scale · q_i · k_j) · v_j for `rows` queries
/// and `keys` keys; q, k, v, out are rows of length >= d at the given strides (floats). d <= 128.
/// `scratch` holds pn_attention_scratch_floats(keys, d) floats, 64-byte aligned.
void pn_attention_avx512(const float *q, long ldq, const float *k, long ldk, const float *v, long ldv, float *out,
                         long ldo, long rows, long keys, long d, float scale, float *scratch);

/// `pn_attention_avx512` for small windows (keys <= 64, d <= 128): no scratch, no padding of queries or keys to
/// blocks; four queries at a time against all keys in registers (Hiera's 4-64-token windows spent most of their
/// time in the general kernel's packing and padding).
void pn_attention_small_avx512(const float *q, long ldq, const float *k, long ldk, const float *v, long ldv, float *out,
                               long ldo, long rows, long keys, long d, float scale);

/// Floats `pn_gemm_pack_weights` writes for a weight matrix of `n` rows (outputs) and `k` columns (inputs).
size_t pn_gemm_packed_floats(long n, long k);

/// Packs columns [j0, j1) of the product, i.e. rows j0..<j1 of w [n, k] (row stride ldw), into `packed` (sized by
/// pn_gemm_packed_floats(n, k), 64-byte aligned): 32-column panels [n/32][k][32], zero padded past n. j0 and j1
/// are multiples of 32 (j1 may be n), so threads can pack disjoint panel ranges.
void pn_gemm_pack_weights(const float *w, long ldw, long n, long k, long j0, long j1, float *packed);

/// y[m, n] = a[m, k] · wᵀ (+ bias[n]) with w packed by pn_gemm_pack_weights; rows of a and y at strides lda, ldy.
/// Meant for blocks of ~200 rows (the caller splits larger products, and can apply an activation to each block
/// while it is in cache).
void pn_gemm_avx512(const float *a, long lda, long m, long k, const float *packed, long n, const float *bias, float *y,
                    long ldy);

/// y[i] = gelu(x[i] + bias[i]) · mul[i] for i < n (exact-erf GELU; bias and mul may be NULL; y may be x), with the
/// same arithmetic as Compute's 8-lane gelu8, so the results are bit-identical.
void pn_gelu_avx512(const float *x, const float *bias, const float *mul, float *y, long n);

#endif
