import ArgumentParser

/// `bench`: the benchmark commands. Each benchmark is a subcommand in its own file, listed here.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (medians, fraction of this machine's limit, ratio to a reference). Results: BENCHMARKS.md.",
        subcommands: [
            BenchBusCommand.self,
            BenchCameraCommand.self,
            BenchSAM2Command.self,
            BenchGEMMCommand.self,
            BenchReasonCommand.self,
            BenchReplayCommand.self,
        ])
}
