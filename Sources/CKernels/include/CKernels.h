#ifndef PN_ATTENTION_KERNELS_H
#define PN_ATTENTION_KERNELS_H

#include <stddef.h>

/// 1 when this CPU (and OS) runs AVX-512F/DQ code, so `pn_attention_avx512` may be called.
int pn_attention_avx512_available(void);

/// Floats of scratch `pn_attention_avx512` needs for `keys` keys of head dimension `d`.
size_t pn_attention_scratch_floats(long keys, long d);

/// Non-causal softmax attention of one head: out[i, :d] = softmax_j(scale · q_i · k_j) · v_j for `rows` queries
/// and `keys` keys; q, k, v, out are rows of length >= d at the given strides (floats). d <= 128.
/// `scratch` holds pn_attention_scratch_floats(keys, d) floats, 64-byte aligned.
void pn_attention_avx512(const float *q, long ldq, const float *k, long ldk, const float *v, long ldv, float *out,
                         long ldo, long rows, long keys, long d, float scale, float *scratch);

#endif
