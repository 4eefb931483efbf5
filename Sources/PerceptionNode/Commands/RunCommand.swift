import ArgumentParser
import Dispatch
import Foundation
import Logging
import NodeRuntime

/// `run`: the node. Loads the parameter file, applies overrides, binds the bus and serves queries until
/// SIGINT/SIGTERM, then answers what is queued and exits 0.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the perception node (camera -> frame ring -> queries -> results over ZeroMQ).")

    @Option(help: "YAML parameter file (docs/config.md); defaults apply when omitted.")
    var config: String?

    @Option(name: .customLong("set"), help: "Override one parameter, e.g. --set camera.device=/dev/video2 (repeatable).")
    var overrides: [String] = []

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "Record frames, queries and results to this MCAP file (overrides recording.*).")
    var record: String?

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "perception-node")
        let cfg: NodeConfig
        do {
            cfg = try NodeConfig.load(path: config, overrides: overrides)
        } catch {
            throw ValidationError("\(error)")
        }
        let (source, sourceName) = try NodeAssembly.makeSource(cfg)
        let stage = try NodeAssembly.makeStage(cfg)
        let recorder = try NodeAssembly.makeRecorder(cfg, recordPath: record, logger: logger)
        let runtime = try PerceptionRuntime(
            config: cfg, parts: RuntimeParts(source: source, sourceName: sourceName, stage: stage, recorder: recorder), logger: logger)

        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        var received = 0
        let signalQueue = DispatchQueue(label: "perception-node.signals")
        let handlers = ([SIGINT, SIGTERM] as [Int32]).map { sig -> DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: signalQueue)
            s.setEventHandler {
                received += 1
                if received > 1 {
                    logger.warning("second signal: exiting without draining")
                    Foundation.exit(130)
                }
                runtime.requestStop()
            }
            s.resume()
            return s
        }
        try runtime.start()
        logger.info("node running", metadata: ["name": "\(cfg.nodeName)", "camera": "\(sourceName)"])
        runtime.waitUntilStopped()
        handlers.forEach { $0.cancel() }
        logger.info("node stopped")
    }
}
