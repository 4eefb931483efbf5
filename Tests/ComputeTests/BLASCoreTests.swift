import Compute
import Foundation
import XCTest

/// The OpenBLAS kernel override: only for generic fallbacks, never over the user's choice, by CPU flags.
final class BLASCoreTests: XCTestCase {
    let avx512: Set<String> = ["sse3", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]

    func testGenericFallbackOnAnAVX512CPUGetsSkylakeX() {
        XCTAssertEqual(BLASCore.recommendedCoreType(current: "Prescott", environment: [:], cpuFlags: avx512), "SkylakeX")
        XCTAssertEqual(BLASCore.recommendedCoreType(current: "Prescott", environment: [:], cpuFlags: ["avx", "avx2", "fma"]), "Haswell")
        XCTAssertNil(BLASCore.recommendedCoreType(current: "Prescott", environment: [:], cpuFlags: ["sse3", "avx"]))
    }

    func testRecognizedCPUsAndExplicitChoicesAreLeftAlone() {
        XCTAssertNil(BLASCore.recommendedCoreType(current: "SkylakeX", environment: [:], cpuFlags: avx512))
        XCTAssertNil(BLASCore.recommendedCoreType(current: "Zen", environment: [:], cpuFlags: avx512))
        XCTAssertNil(BLASCore.recommendedCoreType(current: "Prescott", environment: ["OPENBLAS_CORETYPE": "Prescott"], cpuFlags: avx512))
    }

    func testCPUFlagsAreReadFromCpuinfo() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cpuinfo-\(UUID().uuidString)")
        try "processor\t: 0\nflags\t\t: fpu sse3 avx2 fma\nbugs\t\t: none\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        XCTAssertEqual(BLASCore.cpuFlags(cpuinfo: file.path), ["fpu", "sse3", "avx2", "fma"])
        XCTAssertEqual(BLASCore.cpuFlags(cpuinfo: "/nonexistent/cpuinfo"), [])
        XCTAssertFalse(BLASCore.current.isEmpty)
    }
}
