import Foundation

/// The process's peak resident set size (VmHWM in /proc/self/status), in bytes; 0 where it cannot be read.
///
/// The line is "VmHWM:<tab><kB right-aligned in 8 columns> kB": from 10^7 kB (9.5 GiB) on there is no space after
/// the tab, so it is split on any whitespace.
func peakResidentBytes(status: String? = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) -> Int {
    guard let status else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let fields = line.dropFirst("VmHWM:".count).split(whereSeparator: { $0 == " " || $0 == "\t" })
        return (fields.first.flatMap { Int($0) } ?? 0) * 1024
    }
    return 0
}
