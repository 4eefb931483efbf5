/// An image's patch grid as the model sees it (`image_grid_thw`): temporal, height and width in patches.
public struct QwenGrid: Sendable, Equatable, Hashable {
    public var t: Int
    public var h: Int
    public var w: Int

    public init(t: Int, h: Int, w: Int) {
        self.t = t
        self.h = h
        self.w = w
    }

    public var patches: Int { t * h * w }
}

/// Errors from Qwen2.5-VL index computations, naming the mismatch.
public enum QwenGeometryError: Error, Equatable, CustomStringConvertible {
    case gridNotMergeable(QwenGrid, mergeSize: Int)
    case missingImageGrid(imageNumber: Int, available: Int)
    case imageTokensTruncated(imageNumber: Int, expected: Int, available: Int)

    public var description: String {
        switch self {
        case .gridNotMergeable(let g, let m): return "grid \(g.t)x\(g.h)x\(g.w) is not divisible by merge size \(m)"
        case .missingImageGrid(let n, let a): return "image \(n) in the prompt has no grid (\(a) grids given)"
        case .imageTokensTruncated(let n, let e, let a):
            return "image \(n) needs \(e) image-pad tokens but the sequence has \(a) left"
        }
    }
}

/// The index bookkeeping of the Qwen2.5-VL vision tower and M-RoPE: which 2-D rotary position each patch has,
/// how patches are grouped into attention windows, and the 3-axis position ids of a prompt with images.
///
/// Pure integer math with no weights, so it is tested exhaustively against transformers' own functions; every
/// index here follows the pixel_values row order (2×2 merge blocks, row-major over blocks).
public enum QwenVisionGeometry {
    /// (row, col) patch coordinates for every pixel_values row of all images, in row order
    /// (transformers `rot_pos_emb`'s `pos_ids`; repeated per temporal slice).
    public static func rotaryPositionIDs(grids: [QwenGrid], mergeSize: Int) throws -> (rows: [Int], cols: [Int]) {
        var rows: [Int] = []
        var cols: [Int] = []
        for grid in grids {
            try check(grid, mergeSize)
            rows.reserveCapacity(rows.count + grid.patches)
            cols.reserveCapacity(cols.count + grid.patches)
            for _ in 0..<grid.t {
                for blockY in 0..<(grid.h / mergeSize) {
                    for blockX in 0..<(grid.w / mergeSize) {
                        for innerY in 0..<mergeSize {
                            for innerX in 0..<mergeSize {
                                rows.append(blockY * mergeSize + innerY)
                                cols.append(blockX * mergeSize + innerX)
                            }
                        }
                    }
                }
            }
        }
        return (rows, cols)
    }

    /// Window attention layout over merged tokens (transformers `get_window_index`): `windowIndex[i]` is the merged
    /// token placed at position i (windows row-major, tokens row-major inside a window, images one after another);
    /// `cuWindowSeqlens` are the patch-level window boundaries with repeats (from empty windows) removed, as the
    /// forward pass uses them. `windowSize` is in pixels (112) and `patchSize` in pixels (14).
    public static func windowIndex(grids: [QwenGrid], mergeSize: Int, windowSize: Int, patchSize: Int) throws
        -> (windowIndex: [Int], cuWindowSeqlens: [Int])
    {
        let span = max(1, windowSize / mergeSize / patchSize)
        let unit = mergeSize * mergeSize
        var index: [Int] = []
        var cumulative = [0]
        var offset = 0
        for grid in grids {
            try check(grid, mergeSize)
            let lh = grid.h / mergeSize
            let lw = grid.w / mergeSize
            // The reference always pads by span - (l mod span): a whole empty window row/column when divisible.
            let windowsY = (lh + span - lh % span) / span
            let windowsX = (lw + span - lw % span) / span
            for t in 0..<grid.t {
                for wy in 0..<windowsY {
                    for wx in 0..<windowsX {
                        var count = 0
                        for y in (wy * span)..<min((wy + 1) * span, lh) {
                            for x in (wx * span)..<min((wx + 1) * span, lw) {
                                index.append(offset + (t * lh + y) * lw + x)
                                count += 1
                            }
                        }
                        let boundary = (cumulative.last ?? 0) + count * unit
                        if boundary != cumulative.last { cumulative.append(boundary) }
                    }
                }
            }
            offset += grid.t * lh * lw
        }
        return (index, cumulative)
    }

    /// Patch-level boundaries of full attention (one segment per temporal slice of each image), as
    /// transformers' `cu_seqlens` for the full-attention blocks.
    public static func fullAttentionSeqlens(grids: [QwenGrid]) -> [Int] {
        var out = [0]
        for grid in grids {
            for _ in 0..<grid.t { out.append((out.last ?? 0) + grid.h * grid.w) }
        }
        return out
    }

    /// The inverse permutation (`argsort` of a permutation): `inverse[permutation[i]] = i`. The vision tower uses it
    /// to put merged outputs back in row-major order; using the permutation itself is only right for grids whose
    /// merged size is a multiple of the window span.
    public static func inversePermutation(_ permutation: [Int]) -> [Int] {
        var inverse = [Int](repeating: 0, count: permutation.count)
        for (i, p) in permutation.enumerated() where p >= 0 && p < permutation.count { inverse[p] = i }
        return inverse
    }

    /// M-RoPE position ids (3 × L: temporal, height, width) for a prompt whose images are announced by
    /// `visionStartTokenID` followed by `imageTokenID` pads, and the rope delta (max id + 1 − L) that decoding
    /// adds to the cache position (transformers `get_rope_index`, images only).
    public static func ropeIndex(
        inputIDs: [Int], imageGrids: [QwenGrid], imageTokenID: Int, visionStartTokenID: Int, mergeSize: Int
    ) throws -> (positions: [[Int]], ropeDelta: Int) {
        var imageCount = 0
        for (i, id) in inputIDs.enumerated() where id == visionStartTokenID {
            if i + 1 < inputIDs.count, inputIDs[i + 1] == imageTokenID { imageCount += 1 }
        }
        var t: [Int] = []
        var h: [Int] = []
        var w: [Int] = []
        t.reserveCapacity(inputIDs.count)
        h.reserveCapacity(inputIDs.count)
        w.reserveCapacity(inputIDs.count)
        var next = 0
        var start = 0
        func appendText(_ length: Int) {
            for i in 0..<length {
                t.append(next + i)
                h.append(next + i)
                w.append(next + i)
            }
            if length > 0 { next += length }
        }
        for image in 0..<imageCount {
            guard image < imageGrids.count else {
                throw QwenGeometryError.missingImageGrid(imageNumber: image, available: imageGrids.count)
            }
            guard let end = inputIDs[start...].firstIndex(of: imageTokenID) else { break }
            let grid = imageGrids[image]
            try check(grid, mergeSize)
            let lt = grid.t
            let lh = grid.h / mergeSize
            let lw = grid.w / mergeSize
            appendText(end - start)
            let base = next
            var maxID = base - 1
            for _ in 0..<lt {
                for y in 0..<lh {
                    for x in 0..<lw {
                        t.append(base)  // still images: second_per_grid_t = 0, every slice at time 0
                        h.append(base + y)
                        w.append(base + x)
                        maxID = max(maxID, base + max(y, x))
                    }
                }
            }
            next = maxID + 1
            start = end + lt * lh * lw
            guard start <= inputIDs.count else {
                throw QwenGeometryError.imageTokensTruncated(
                    imageNumber: image, expected: lt * lh * lw, available: inputIDs.count - end)
            }
        }
        if start < inputIDs.count { appendText(inputIDs.count - start) }
        let maxID = max(t.max() ?? -1, h.max() ?? -1, w.max() ?? -1)
        return ([t, h, w], maxID + 1 - inputIDs.count)
    }

    static func check(_ grid: QwenGrid, _ mergeSize: Int) throws {
        guard mergeSize > 0, grid.t > 0, grid.h > 0, grid.w > 0, grid.h % mergeSize == 0, grid.w % mergeSize == 0
        else {
            throw QwenGeometryError.gridNotMergeable(grid, mergeSize: mergeSize)
        }
    }
}
