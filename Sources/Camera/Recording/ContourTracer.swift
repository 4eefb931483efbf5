/// Traces the outer boundary of each 8-connected region of a binary mask (Moore-neighbour tracing), giving
/// polygons of pixel-centre points for `LINE_LOOP` annotations. Holes are not traced.
public enum ContourTracer {
    public struct Point: Sendable, Equatable {
        public var x: Int
        public var y: Int
        public init(x: Int, y: Int) {
            self.x = x
            self.y = y
        }
    }

    /// Clockwise neighbours in image coordinates (y down), starting east.
    static let dirs: [(Int, Int)] = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]

    /// Outer contours of the non-zero regions of a row-major `width x height` mask, largest region first, at most
    /// `maxContours`, regions under `minArea` pixels skipped. Straight runs are reduced to their end points.
    public static func contours(width: Int, height: Int, mask: [UInt8], minArea: Int = 1, maxContours: Int = 64) throws
        -> [[Point]]
    {
        guard width > 0, height > 0, mask.count == width * height else {
            throw RecordingError.badMask(width: width, height: height, count: mask.count)
        }
        var label = [Int32](repeating: 0, count: width * height)
        var regions: [(start: Int, area: Int, label: Int32)] = []
        var stack: [Int] = []
        var next: Int32 = 0
        for i in 0..<mask.count where mask[i] != 0 && label[i] == 0 {
            next += 1
            label[i] = next
            stack.append(i)
            var area = 0
            while let p = stack.popLast() {
                area += 1
                let x = p % width, y = p / width
                for (dx, dy) in dirs {
                    let nx = x + dx, ny = y + dy
                    guard nx >= 0, ny >= 0, nx < width, ny < height else { continue }
                    let q = ny * width + nx
                    if mask[q] != 0 && label[q] == 0 {
                        label[q] = next
                        stack.append(q)
                    }
                }
            }
            // Raster order makes `i` the region's topmost-leftmost pixel.
            if area >= minArea { regions.append((i, area, next)) }
        }
        regions.sort { $0.area > $1.area }
        return regions.prefix(maxContours).map { trace(start: $0.start, label: $0.label, labels: label, width: width, height: height, area: $0.area) }
    }

    static func trace(start: Int, label: Int32, labels: [Int32], width: Int, height: Int, area: Int) -> [Point] {
        func inside(_ x: Int, _ y: Int) -> Bool {
            x >= 0 && y >= 0 && x < width && y < height && labels[y * width + x] == label
        }
        let sx = start % width, sy = start / width
        var cx = sx, cy = sy
        var back = 4  // the west neighbour of the topmost-leftmost pixel is outside
        var points = [Point(x: sx, y: sy)]
        var firstMove: Int?
        var lastMove: Int?
        let limit = 4 * area + 16
        for _ in 0..<limit {
            var moved: Int?
            for k in 1...8 {
                let d = (back + k) % 8
                if inside(cx + dirs[d].0, cy + dirs[d].1) {
                    moved = d
                    break
                }
            }
            guard let d = moved else { break }  // a single pixel
            if cx == sx && cy == sy {
                if let f = firstMove, f == d { break }
                if firstMove == nil { firstMove = d }
            }
            let prev = (d + 7) % 8
            let px = cx + dirs[prev].0, py = cy + dirs[prev].1
            cx += dirs[d].0
            cy += dirs[d].1
            back = dirs.firstIndex { $0.0 == px - cx && $0.1 == py - cy } ?? 4
            if let l = lastMove, l == d, points.count >= 2 {
                points[points.count - 1] = Point(x: cx, y: cy)
            } else {
                points.append(Point(x: cx, y: cy))
            }
            lastMove = d
        }
        if points.count > 1, points.last == points.first { points.removeLast() }
        return points
    }
}
