import ArgumentParser
import Dispatch
import Foundation
import NodeRuntime

/// `launch`: starts the processes of a launch file (launch/*.yaml) and supervises them like `ros2 launch`.
struct LaunchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Start and supervise the processes of a launch file (respawn, clean shutdown on SIGINT/SIGTERM).",
        discussion: "Example: perception-node launch launch/replay.yaml images:=/data/frames rate:=5")

    @Argument(help: "The launch file.") var file: String
    @Argument(help: "Launch arguments as name:=value.") var arguments: [String] = []

    func run() throws {
        var args: [String: String] = [:]
        for a in arguments {
            guard let r = a.range(of: ":="), r.lowerBound != a.startIndex else {
                throw ValidationError("launch arguments are name:=value, got '\(a)'")
            }
            args[String(a[..<r.lowerBound])] = String(a[r.upperBound...])
        }
        let launch: LaunchFile
        do {
            launch = try LaunchFile.load(path: file, arguments: args)
        } catch {
            throw ValidationError("\(error)")
        }
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let supervisor = LaunchSupervisor(file: launch, selfExecutable: me)
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let queue = DispatchQueue(label: "perception-node.launch.signals")
        let sources = ([SIGINT, SIGTERM] as [Int32]).map { sig -> DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            s.setEventHandler { supervisor.requestShutdown() }
            s.resume()
            return s
        }
        let code = supervisor.run()
        sources.forEach { $0.cancel() }
        if code != 0 { throw ExitCode(code) }
    }
}
