/// A labelled polygon of a ReasonSeg / LISA annotation (`shapes[i]` with `label` and `points`).
public struct AnnotatedPolygon: Sendable {
    public var label: String
    public var points: [(x: Double, y: Double)]
    public init(label: String, points: [(x: Double, y: Double)]) {
        self.label = label
        self.points = points
    }
}

/// Rasterizes ReasonSeg / LISA annotations the way LISA's `get_mask_from_json` does: polygons labelled
/// "flag" are skipped; the rest are drawn largest first (by their own rasterized area), each as a closed
/// 1-px outline plus its filled interior, with vertices truncated to integers as `np.int32` does; labels
/// containing "ignore" draw 255 (excluded from scoring), all others 1.
///
/// Pixel-identical to OpenCV for polygons inside the image (Tests/InferenceTests/EvaluationTests compares
/// with OpenCV itself); vertices outside the image may differ along the image border.
public enum ReasonSegRasterizer {
    public static let ignoreValue: UInt8 = 255

    public static func mask(_ polygons: [AnnotatedPolygon], width: Int, height: Int) -> [UInt8] {
        let kept = polygons.filter { $0.label.lowercased() != "flag" }
        let areas = kept.map { polygon -> Int in
            var m = [UInt8](repeating: 0, count: width * height)
            draw(polygon, value: 1, into: &m, width: width, height: height)
            return m.reduce(0) { $0 + Int($1) }
        }
        // numpy argsort (quicksort, not stable) reversed: equal areas keep no guaranteed order; we use the
        // stable descending order, which only matters when equal-area polygons overlap with different labels.
        let order = areas.indices.sorted { areas[$0] > areas[$1] || (areas[$0] == areas[$1] && $0 > $1) }
        var out = [UInt8](repeating: 0, count: width * height)
        for i in order {
            let value: UInt8 = kept[i].label.lowercased().contains("ignore") ? ignoreValue : 1
            draw(kept[i], value: value, into: &out, width: width, height: height)
        }
        return out
    }

    /// One polygon as OpenCV's `polylines(..., closed, 1, thickness 1)` + `fillPoly` draw it with integer
    /// vertices: 16.16 fixed-point edges active on rows [y0, y1), spans from ceil(left) to floor(right)
    /// between sorted crossings, and the outline as OpenCV's 8-connected line iterator (clipped to the image).
    static func draw(_ polygon: AnnotatedPolygon, value: UInt8, into m: inout [UInt8], width: Int, height: Int) {
        let pts = polygon.points.map { p -> (x: Int64, y: Int64) in
            // np.array(points, dtype=np.int32) truncates toward zero.
            (Int64(max(-1e9, min(1e9, p.x)).rounded(.towardZero)), Int64(max(-1e9, min(1e9, p.y)).rounded(.towardZero)))
        }
        guard !pts.isEmpty, width > 0, height > 0 else { return }
        for i in pts.indices {
            line(from: pts[i == 0 ? pts.count - 1 : i - 1], to: pts[i], value: value, into: &m, width: width, height: height)
        }
        struct Edge { var y0: Int64; var y1: Int64; var x: Int64; var dx: Int64 }
        var edges: [Edge] = []
        for i in pts.indices {
            let a = pts[i == 0 ? pts.count - 1 : i - 1], b = pts[i]
            guard a.y != b.y else { continue }
            let dx = ((b.x - a.x) << 16) / (b.y - a.y)
            edges.append(a.y < b.y ? Edge(y0: a.y, y1: b.y, x: a.x << 16, dx: dx) : Edge(y0: b.y, y1: a.y, x: b.x << 16, dx: dx))
        }
        guard edges.count >= 2, let yMin = edges.map(\.y0).min(), let yMaxAll = edges.map(\.y1).max() else { return }
        let yEnd = min(yMaxAll, Int64(height))
        var y = max(yMin, 0)
        var xs: [Int64] = []
        while y < yEnd {
            xs.removeAll(keepingCapacity: true)
            for e in edges where e.y0 <= y && y < e.y1 { xs.append(e.x + (y - e.y0) * e.dx) }
            xs.sort()
            var k = 0
            while k + 1 < xs.count {
                let x1 = max(0, (xs[k] + 65535) >> 16), x2 = min(Int64(width) - 1, xs[k + 1] >> 16)
                if x1 <= x2 { for x in x1...x2 { m[Int(y) * width + Int(x)] = value } }
                k += 2
            }
            y += 1
        }
    }

    /// OpenCV's `LineIterator` with 8-connectivity, left to right, after `clipLine` to the image.
    static func line(from p: (x: Int64, y: Int64), to q: (x: Int64, y: Int64), value: UInt8, into m: inout [UInt8], width: Int, height: Int) {
        var (x1, y1, x2, y2) = (p.x, p.y, q.x, q.y)
        let right = Int64(width - 1), bottom = Int64(height - 1)
        func code(_ x: Int64, _ y: Int64) -> Int { (x < 0 ? 1 : 0) + (x > right ? 2 : 0) + (y < 0 ? 4 : 0) + (y > bottom ? 8 : 0) }
        var c1 = code(x1, y1), c2 = code(x2, y2)
        if (c1 & c2) == 0 && (c1 | c2) != 0 {
            if c1 & 12 != 0 {
                let a = c1 < 8 ? 0 : bottom
                x1 += (a - y1) * (x2 - x1) / (y2 - y1); y1 = a
                c1 = (x1 < 0 ? 1 : 0) + (x1 > right ? 2 : 0)
            }
            if c2 & 12 != 0 {
                let a = c2 < 8 ? 0 : bottom
                x2 += (a - y2) * (x2 - x1) / (y2 - y1); y2 = a
                c2 = (x2 < 0 ? 1 : 0) + (x2 > right ? 2 : 0)
            }
            if (c1 & c2) == 0 && (c1 | c2) != 0 {
                if c1 != 0 {
                    let a = c1 == 1 ? 0 : right
                    y1 += (a - x1) * (y2 - y1) / (x2 - x1); x1 = a; c1 = 0
                }
                if c2 != 0 {
                    let a = c2 == 1 ? 0 : right
                    y2 += (a - x2) * (y2 - y1) / (x2 - x1); x2 = a; c2 = 0
                }
            }
        }
        guard (c1 | c2) == 0 else { return }
        if x2 < x1 { swap(&x1, &x2); swap(&y1, &y2) }
        var dx = x2 - x1, dy = abs(y2 - y1)
        let ys: Int64 = y2 < y1 ? -1 : 1
        var (majorX, minorX): (Int64, Int64) = (1, 0), (majorY, minorY): (Int64, Int64) = (0, ys)
        if dy > dx {
            swap(&dx, &dy)
            (majorX, minorX, majorY, minorY) = (0, 1, ys, 0)
        }
        var err = dx - 2 * dy
        var x = x1, y = y1
        for _ in 0...dx {
            if x >= 0, y >= 0, x < Int64(width), y < Int64(height) { m[Int(y) * width + Int(x)] = value }
            let minor = err < 0
            err += -2 * dy + (minor ? 2 * dx : 0)
            x += majorX + (minor ? minorX : 0)
            y += majorY + (minor ? minorY : 0)
        }
    }
}

/// gIoU and cIoU as the ReasonSeg evaluations report them: per sample, intersection and union of the
/// predicted mask with the target pixels (ground truth == 1; pixels marked 255 are excluded from both);
/// gIoU is the mean of per-sample IoU (a sample with an empty union counts 1.0 — nothing to find, nothing
/// found), cIoU is total intersection over total union.
public struct SegmentationScore: Sendable {
    public private(set) var samples = 0
    public private(set) var totalIntersection = 0
    public private(set) var totalUnion = 0
    private var iouSum = 0.0

    public init() {}

    /// Adds one sample. `prediction` is 0/1 (any non-zero counts as foreground); both are `width*height`.
    @discardableResult
    public mutating func add(prediction: [UInt8], groundTruth: [UInt8]) -> Double {
        var inter = 0, union = 0
        for i in 0..<min(prediction.count, groundTruth.count) where groundTruth[i] != ReasonSegRasterizer.ignoreValue {
            let p = prediction[i] != 0, g = groundTruth[i] == 1
            if p && g { inter += 1 }
            if p || g { union += 1 }
        }
        let iou = union == 0 ? 1.0 : Double(inter) / Double(union)
        samples += 1
        totalIntersection += inter
        totalUnion += union
        iouSum += iou
        return iou
    }

    public var gIoU: Double { samples == 0 ? 0 : iouSum / Double(samples) }
    public var cIoU: Double { totalUnion == 0 ? 0 : Double(totalIntersection) / Double(totalUnion) }
}
