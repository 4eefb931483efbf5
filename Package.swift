// swift-tools-version:6.0
// perception-node: a reasoning-segmentation perception node (Seg-Zero style: Qwen2.5-VL + SAM2).
// Layout and module boundaries: docs/architecture.md.
import PackageDescription

/// Hot numeric code is built with bounds checks off in release builds; debug keeps them.
let fastMath: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]

/// Compute's SIMD8<Float> kernels need AVX2+FMA code generation (the x86-64 baseline turns each FMA into a libm call).
#if arch(x86_64)
let simdCodegen: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let simdCodegen: [SwiftSetting] = []
#endif

let package = Package(
    name: "perception-node",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "perception-node", targets: ["PerceptionNode"]),
        .library(name: "PerceptionMessages", targets: ["PerceptionMessages"]),
        .library(name: "Camera", targets: ["Camera"]),
        .library(name: "Inference", targets: ["Inference"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // System-library shims (Debian package names in `providers`).
        .systemLibrary(name: "CZMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CMsgPack", pkgConfig: "msgpack", providers: [.apt(["libmsgpack-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CV4L2", pkgConfig: "libv4l2", providers: [.apt(["libv4l-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng16", providers: [.apt(["libpng-dev"])]),

        // Wire format shared with planners: Query / Result / Status v1 over msgpack, COCO RLE masks.
        .target(name: "PerceptionMessages", dependencies: ["CMsgPack"]),
        // RGB images, PNG/JPEG codecs, reference-exact resampling (Pillow, torchvision).
        .target(name: "Imaging", dependencies: ["CPNG", "CTurboJPEG"], swiftSettings: fastMath),
        // Frame sources: image folders, V4L2, MCAP / ROS bag replay; MCAP recording.
        .target(
            name: "Camera",
            dependencies: ["Imaging", "CV4L2", "CTurboJPEG", "CZstd", "CLZ4", .product(name: "Logging", package: "swift-log")],
            swiftSettings: fastMath),
        // AVX-512 kernels in C (attention; matrix products with a small inner dimension), per-function target
        // attributes, chosen at run time by Compute.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // Tensors over a backend interface; the BLAS backend (OpenBLAS + SIMD kernels).
        .target(name: "Compute", dependencies: ["COpenBLAS", "CKernels"], swiftSettings: fastMath + simdCodegen),
        // Checkpoint readers: PyTorch .pt (zip + strict unpickler), safetensors; memory-mapped.
        .target(name: "Checkpoint", swiftSettings: fastMath),
        // Models (SAM2, Qwen2.5-VL), tokenizer, reasoning-segmentation pipeline.
        .target(
            name: "Inference",
            dependencies: ["Compute", "Checkpoint", "Imaging", .product(name: "Logging", package: "swift-log")],
            swiftSettings: fastMath),
        // The node: bus (ZeroMQ), runtime (frame ring, query queue, worker), config, launch supervisor.
        .target(
            name: "NodeRuntime",
            dependencies: [
                "PerceptionMessages", "Camera", "Imaging", "CZMQ",
                .product(name: "Yams", package: "Yams"), .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "PerceptionNode",
            dependencies: [
                "NodeRuntime", "Inference", "Compute", "Camera", "PerceptionMessages",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Runs V4L2Source against the vivid driver inside the QEMU guest (scripts/vivid/run.sh); Camera only, so
        // it links statically into a small binary.
        .executableTarget(name: "v4l2-selftest", dependencies: ["Camera", "Imaging"], path: "Sources/V4L2SelfTest"),
        // Lists a checkpoint's tensors and times opening / paging it in (Checkpoint only, builds in seconds).
        .executableTarget(name: "checkpoint-inspect", dependencies: ["Checkpoint"], path: "Sources/CheckpointInspect"),

        .testTarget(name: "PerceptionMessagesTests", dependencies: ["PerceptionMessages"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging"]),
        .testTarget(name: "CameraTests", dependencies: ["Camera", "Imaging"]),
        .testTarget(name: "ComputeTests", dependencies: ["Compute"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "Compute", "Checkpoint", "Imaging"]),
        .testTarget(name: "NodeRuntimeTests", dependencies: ["NodeRuntime", "PerceptionMessages", "Camera", "Imaging"]),
    ],
    swiftLanguageModes: [.v5]
)
