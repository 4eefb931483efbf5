// checkpoint-inspect: lists a checkpoint's tensors and times opening and reading it (median of --repeat runs).
//   checkpoint-inspect PATH [--list] [--read] [--repeat N]
//   checkpoint-inspect --convert-bench      (bf16/f16 -> f32 widening throughput)
import Checkpoint
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func maxRSSMiB() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}

/// Median GB/s (source plus destination bytes) of the widening kernels on 16M elements.
func conversionBench() {
    let n = 16 << 20
    let src = UnsafeMutablePointer<UInt16>.allocate(capacity: n)
    let dst = UnsafeMutablePointer<Float>.allocate(capacity: n)
    defer {
        src.deallocate()
        dst.deallocate()
    }
    for i in 0..<n { src[i] = UInt16(truncatingIfNeeded: i &* 40503) }
    for (label, kernel) in [
        ("widenBF16", DTypeConversion.widenBF16), ("widenF16", DTypeConversion.widenF16),
    ] as [(String, (UnsafePointer<UInt16>, UnsafeMutablePointer<Float>, Int) -> Void)] {
        var times: [Double] = []
        for _ in 0..<7 {
            let t0 = now()
            kernel(src, dst, n)
            times.append(now() - t0)
        }
        let m = median(times)
        print(label + String(format: ": median %.2f ms for 16M elements, %.2f GB/s", m * 1e3, Double(n * 6) / m / 1e9))
    }
    // Baseline: memcpy moving the same number of bytes (3n read + 3n written).
    let a = UnsafeMutableRawPointer.allocate(byteCount: 3 * n, alignment: 64)
    let b = UnsafeMutableRawPointer.allocate(byteCount: 3 * n, alignment: 64)
    defer {
        a.deallocate()
        b.deallocate()
    }
    memset(a, 1, 3 * n)
    memset(b, 2, 3 * n)
    var times: [Double] = []
    for _ in 0..<7 {
        let t0 = now()
        memcpy(b, a, 3 * n)
        times.append(now() - t0)
    }
    let m = median(times)
    print(String(format: "memcpy baseline: median %.2f ms for the same bytes, %.2f GB/s", m * 1e3, Double(n * 6) / m / 1e9))
}

var args = Array(CommandLine.arguments.dropFirst())
if args == ["--convert-bench"] {
    conversionBench()
    exit(0)
}
let list = args.contains("--list")
let read = args.contains("--read")
var repeats = 5
if let i = args.firstIndex(of: "--repeat"), i + 1 < args.count, let n = Int(args[i + 1]), n > 0 {
    repeats = n
    args.removeSubrange(i...(i + 1))
}
args.removeAll { $0 == "--list" || $0 == "--read" }
guard args.count == 1, let path = args.first else {
    print("usage: checkpoint-inspect PATH [--list] [--read] [--repeat N]")
    exit(2)
}

do {
    var openTimes: [Double] = []
    var infoTimes: [Double] = []
    var store: WeightStore?
    var params = 0
    var bytes = 0
    for _ in 0..<repeats {
        store = nil
        let t0 = now()
        let s = try Checkpoint.open(path: path)
        let t1 = now()
        params = 0
        bytes = 0
        for name in s.names {
            let t = try s.tensor(name)
            params += t.count
            bytes += t.raw.count
        }
        infoTimes.append(now() - t1)
        openTimes.append(t1 - t0)
        store = s
    }
    guard let store else { exit(1) }
    if list {
        for name in store.names {
            let i = try store.info(name)
            print("\(name)\t\(i.dtype.rawValue)\t\(i.shape)")
        }
    }
    print("\(path): \(store.names.count) tensors, \(params) parameters, \(bytes) bytes")
    let openMs = median(openTimes) * 1e3
    let tensorsMs = median(infoTimes) * 1e3
    print(
        String(format: "open: median %.2f ms", openMs) + " of \(repeats); "
            + String(format: "tensor() for every name: median %.2f ms", tensorsMs))
    if read {
        // Page in every tensor once (first touch of the mapping), then widen all to Float.
        var checksum: UInt64 = 0
        let t0 = now()
        for name in store.names {
            let raw = try store.tensor(name).raw
            var i = 0
            while i < raw.count {
                checksum &+= UInt64(raw[i])
                i += 4096
            }
        }
        let t1 = now()
        var widened = 0
        for name in store.names { widened += try store.tensor(name).floats().count }
        let t2 = now()
        let pageIn = t1 - t0
        let rate = Double(bytes) / pageIn / 1e9
        print(String(format: "page-in: %.1f ms (%.2f GB/s)", pageIn * 1e3, rate))
        print(String(format: "floats() of all: %.1f ms", (t2 - t1) * 1e3))
        print(String(format: "max RSS %.0f MiB", maxRSSMiB()) + " (checksum \(checksum), \(widened) floats)")
    } else {
        print(String(format: "max RSS %.0f MiB", maxRSSMiB()))
    }
} catch {
    print("error: \(error)")
    exit(1)
}
