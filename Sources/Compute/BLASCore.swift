import COpenBLAS
import Foundation

/// Which OpenBLAS kernel set this process runs, and the fix when it is the wrong one.
///
/// OpenBLAS (DYNAMIC_ARCH builds) picks its kernels from the CPU model when the library loads. A build older
/// than the CPU does not know the model and falls back to generic SSE3 "Prescott" kernels: Debian bookworm's
/// 0.3.21 does so on Sapphire/Emerald Rapids, where its sgemm then runs at 33 instead of 155-165 GFLOP per
/// CPU-second (BENCHMARKS.md). `OPENBLAS_CORETYPE` forces a kernel set, but it is read only at load time, so an
/// executable that wants it re-executes itself with the variable set (`reexecIfGenericKernels`).
public enum BLASCore {
    /// The kernel set OpenBLAS chose, e.g. "SkylakeX", "Haswell", "Prescott".
    public static var current: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Kernel sets OpenBLAS falls back to for CPUs it does not recognize.
    static let genericFallbacks: Set<String> = ["prescott", "core2", "nehalem", "katmai", "coppermine", "northwood", "banias", "unknown"]

    /// The `OPENBLAS_CORETYPE` to force: only when the user has not set one, OpenBLAS fell back to generic
    /// kernels, and the CPU flags (from /proc/cpuinfo) support AVX-512 ("SkylakeX") or AVX2 + FMA ("Haswell").
    public static func recommendedCoreType(
        current: String = BLASCore.current, environment: [String: String] = ProcessInfo.processInfo.environment,
        cpuFlags: Set<String>? = nil
    ) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil, genericFallbacks.contains(current.lowercased()) else { return nil }
        let flags = cpuFlags ?? Self.cpuFlags()
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"].allSatisfy(flags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        return nil
    }

    /// The first `flags` line of /proc/cpuinfo (empty where there is none).
    public static func cpuFlags(cpuinfo: String = "/proc/cpuinfo") -> Set<String> {
        guard let text = try? String(contentsOfFile: cpuinfo, encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return []
    }

    /// Re-executes this process (same pid, arguments and environment plus `OPENBLAS_CORETYPE`) when
    /// `recommendedCoreType` names a better kernel set. Returns only when no re-exec is wanted or it failed.
    public static func reexecIfGenericKernels() {
        guard let core = recommendedCoreType() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // exec failed (no /proc?): carry on with the generic kernels, slower but correct.
        unsetenv("OPENBLAS_CORETYPE")
        FileHandle.standardError.write(Data("perception-node: OpenBLAS runs generic \(current) kernels; set OPENBLAS_CORETYPE=\(core) for full speed\n".utf8))
    }
}
