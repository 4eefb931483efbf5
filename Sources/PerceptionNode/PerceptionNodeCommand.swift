import ArgumentParser
import Compute
import NodeRuntime
import Inference

@main
struct PerceptionNodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perception-node",
        abstract: "A reasoning-segmentation perception node (Qwen2.5-VL reasoning + SAM2 masks) over ZeroMQ.",
        subcommands: [RunCommand.self, LaunchCommand.self, QueryCommand.self, BenchCommand.self, V4L2ProbeCommand.self, SAM2Command.self, ReasonCommand.self, ModelsCommand.self, LogsCommand.self, SegmentCommand.self, EvalCommand.self])

    static func main() {
        // Before anything else: OpenBLAS may have loaded generic kernels on a CPU newer than the library (Compute/BLASCore).
        BLASCore.reexecIfGenericKernels()
        main(nil)
    }
}
