/// A binary segmentation mask: `height` rows of `width` bytes, each 0 or 1 (row-major, like a mono8 image).
public struct BinaryMask: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Row-major, one byte per pixel; any nonzero byte counts as set.
    public private(set) var pixels: [UInt8]

    /// Fails (nil) when `pixels.count != width * height` or a dimension is negative.
    public init?(width: Int, height: Int, pixels: [UInt8]) {
        guard width >= 0, height >= 0, width.multipliedReportingOverflow(by: height) == (pixels.count, false) else {
            return nil
        }
        self.width = width
        self.height = height
        self.pixels = pixels.map { $0 != 0 ? 1 : 0 }
    }

    /// An all-zero mask.
    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        self.pixels = [UInt8](repeating: 0, count: self.width * self.height)
    }

    public subscript(x: Int, y: Int) -> Bool {
        get { pixels[y * width + x] != 0 }
        set { pixels[y * width + x] = newValue ? 1 : 0 }
    }

    /// Number of set pixels.
    public var area: Int { pixels.reduce(0) { $0 + Int($1) } }

    /// Mean position of the set pixels' centres (pixel (0,0) covers [0,1)x[0,1)); nil when empty.
    public var centroid: (x: Double, y: Double)? {
        var sx = 0.0, sy = 0.0, n = 0
        for y in 0..<height {
            let row = y * width
            for x in 0..<width where pixels[row + x] != 0 {
                sx += Double(x)
                sy += Double(y)
                n += 1
            }
        }
        guard n > 0 else { return nil }
        return (sx / Double(n) + 0.5, sy / Double(n) + 0.5)
    }

    /// Tight box around the set pixels as edges [x1, y1, x2, y2] (x2, y2 exclusive); nil when empty.
    public var boundingBox: (x1: Int, y1: Int, x2: Int, y2: Int)? {
        var x1 = Int.max, y1 = Int.max, x2 = -1, y2 = -1
        for y in 0..<height {
            let row = y * width
            for x in 0..<width where pixels[row + x] != 0 {
                x1 = min(x1, x)
                x2 = max(x2, x)
                y1 = min(y1, y)
                y2 = max(y2, y)
            }
        }
        guard x2 >= 0 else { return nil }
        return (x1, y1, x2 + 1, y2 + 1)
    }
}
