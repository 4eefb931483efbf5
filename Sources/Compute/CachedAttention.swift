import Foundation

/// Attention of a few new query tokens against a key/value cache, for decoding (the prefill uses
/// `ComputeBackend.attention`). It lives in Compute so that its SIMD loops are compiled with the module's AVX2+FMA
/// code generation: in a module built for the x86-64 baseline, `SIMD8.addProduct` becomes one libm `fmaf` call per
/// lane, which made decoding after a 1000-token prompt about 0.1 s per token slower on the 3B model.
public enum CachedAttention {
    /// Causal grouped-query attention of queries [L, heads, d] at positions `firstPosition ..< firstPosition + L`
    /// against caches laid out [kvHeads, capacity, d] that already hold those positions; writes [L, heads · d].
    /// Query head h uses KV head h / (heads / kvHeads). One task per (query token, KV head), so the group's query
    /// heads share every K and V row load; softmax in float32 with the max subtracted.
    public static func attend(
        queries: UnsafePointer<Float>, tokens l: Int, heads: Int, kvHeads: Int, headDim d: Int,
        keys: UnsafePointer<Float>, values: UnsafePointer<Float>, capacity: Int, firstPosition: Int, scale: Float,
        output: UnsafeMutablePointer<Float>, threads: Int
    ) {
        guard l > 0, heads > 0, kvHeads > 0, d > 0, heads % kvHeads == 0 else { return }
        let group = heads / kvHeads
        let total = firstPosition + l
        let tasks = l * kvHeads
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: total * l * heads)
        let sumsBuffer = UnsafeMutablePointer<Float>.allocate(capacity: l * heads)
        defer { scratch.deallocate(); sumsBuffer.deallocate() }
        Parallel.forTasks(tasks, threads: max(1, threads)) { task, _ in
            let t = task / kvHeads, kv = task % kvHeads
            let visible = firstPosition + t + 1
            let s = scratch + task * group * total
            let kh = keys + kv * capacity * d, vh = values + kv * capacity * d
            let firstHead = t * heads + kv * group
            for j in 0..<visible {
                let kr = kh + j * d
                for g in 0..<group { s[g * total + j] = dotF32(queries + (firstHead + g) * d, kr, d) * scale }
            }
            let sums = sumsBuffer + task * group
            for g in 0..<group {
                let row = s + g * total
                var m = -Float.infinity
                for j in 0..<visible { m = max(m, row[j]) }
                var sum: Float = 0
                for j in 0..<visible {
                    let e = Foundation.exp(row[j] - m)
                    row[j] = e
                    sum += e
                }
                sums[g] = sum
                (output + (firstHead + g) * d).initialize(repeating: 0, count: d)
            }
            for j in 0..<visible {
                let vr = vh + j * d
                for g in 0..<group { axpy(s[g * total + j], vr, output + (firstHead + g) * d, d) }
            }
            for g in 0..<group {
                let o = output + (firstHead + g) * d
                let inv = 1 / sums[g]
                for i in 0..<d { o[i] *= inv }
            }
        }
    }

    @inline(__always)
    private static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: yv + alpha * xv, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { y[i] += alpha * x[i]; i += 1 }
    }
}
