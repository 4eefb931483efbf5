import Camera
import Foundation
import XCTest

/// Format choice, naming and error paths of the V4L2 source that need no device (the vivid VM test covers
/// capture: scripts/vivid/run.sh, Tests/Integration/test_v4l2_vivid.py).
final class V4L2ConfigTests: XCTestCase {
    func fmt(_ f: FourCC, emulated: Bool = false, max: (Int, Int) = (1920, 1080)) -> V4L2FormatDescription {
        V4L2FormatDescription(fourcc: f, emulated: emulated, maxSize: (max.0, max.1))
    }

    func testAutoPrefersMJPEGOnlyAboveVGA() {
        let uvc = [fmt(.yuyv), fmt(.mjpeg)]
        XCTAssertEqual(V4L2Config.chooseFormat(offered: uvc, width: 1280, height: 720), .mjpeg)
        XCTAssertEqual(V4L2Config.chooseFormat(offered: uvc, width: 640, height: 480), .yuyv)
        // MJPEG that cannot reach the requested size does not win.
        let small = [fmt(.yuyv), fmt(.mjpeg, max: (640, 480))]
        XCTAssertEqual(V4L2Config.chooseFormat(offered: small, width: 1280, height: 720), .yuyv)
    }

    func testAutoOrderAndEmulatedFormats() {
        XCTAssertEqual(V4L2Config.chooseFormat(offered: [fmt(.grey), fmt(.rgb24)], width: 640, height: 480), .rgb24)
        XCTAssertEqual(V4L2Config.chooseFormat(offered: [fmt(.grey)], width: 640, height: 480), .grey)
        // libv4lconvert's emulated RGB3 loses to the device's own GREY; used only when nothing native fits.
        XCTAssertEqual(
            V4L2Config.chooseFormat(offered: [fmt(.rgb24, emulated: true), fmt(.grey)], width: 640, height: 480), .grey)
        XCTAssertEqual(
            V4L2Config.chooseFormat(
                offered: [fmt(.rgb24, emulated: true), fmt(FourCC("Z16 "))], width: 640, height: 480),
            .rgb24)
        XCTAssertNil(
            V4L2Config.chooseFormat(offered: [fmt(FourCC("Z16 ")), fmt(FourCC("NV12"))], width: 640, height: 480))
    }

    func testDevicePathAndControlKeys() {
        XCTAssertEqual(V4L2Config(device: "/dev/video2").devicePath, "/dev/video2")
        XCTAssertEqual(
            V4L2Config(device: "usb-046d_C920-video-index0").devicePath, "/dev/v4l/by-id/usb-046d_C920-video-index0")
        XCTAssertEqual(V4L2Device.controlKey("Inject V4L2_BUF_FLAG_ERROR"), "inject_v4l2_buf_flag_error")
        XCTAssertEqual(V4L2Device.controlKey("Percentage of Dropped Buffers"), "percentage_of_dropped_buffers")
        XCTAssertEqual(V4L2Device.controlKey("Integer 32 Bits"), "integer_32_bits")
        XCTAssertEqual(FourCC.mjpeg.description, "MJPG")
    }

    func testParametersFromText() throws {
        var c = V4L2Config()
        try c.set("device", "usb-cam")
        try c.set("format", "MJPEG")
        try c.set("width", "1280")
        try c.set("height", "720")
        try c.set("fps", "none")
        try c.set("buffers", "3")
        try c.set("reconnect_max_attempts", "7")
        try c.set("drain_to_newest", "off")
        XCTAssertEqual(
            c,
            V4L2Config(
                device: "usb-cam", format: .mjpeg, width: 1280, height: 720, fps: nil, bufferCount: 3,
                reconnectMaxAttempts: 7, drainToNewest: false))
        XCTAssertThrowsError(try c.set("fps", "-3")) {
            XCTAssertEqual(
                $0 as? V4L2ConfigError,
                .invalidValue(key: "fps", value: "-3", expected: "a positive number or none"))
        }
        XCTAssertThrowsError(try c.set("format", "h264"))
        XCTAssertThrowsError(try c.set("buffers", "0"))
        XCTAssertThrowsError(try c.set("exposure", "1")) {
            XCTAssertEqual($0 as? V4L2ConfigError, .unknownKey("exposure"))
        }
    }

    func testMissingDeviceAndNonV4L2NodeFailClearly() {
        XCTAssertThrowsError(try V4L2Source(config: V4L2Config(device: "/dev/video-does-not-exist"))) { error in
            guard case .system(let device, let call, let e)? = error as? V4L2Error else { return XCTFail("\(error)") }
            XCTAssertEqual(device, "/dev/video-does-not-exist")
            XCTAssertEqual(call, "open")
            XCTAssertEqual(e, ENOENT)
            XCTAssertTrue((error as? V4L2Error)?.isDeviceGone ?? false)
        }
        // libv4l2's open already runs QUERYCAP and refuses a node that is not V4L2.
        XCTAssertThrowsError(try V4L2Source(config: V4L2Config(device: "/dev/null"))) { error in
            guard case .system(_, let call, let e)? = error as? V4L2Error else { return XCTFail("\(error)") }
            XCTAssertEqual(call, "open")
            XCTAssertEqual(e, ENOTTY)
            XCTAssertFalse((error as? V4L2Error)?.isDeviceGone ?? true)
        }
    }

    /// A camera that is not plugged in yet: the source starts in `reconnecting`, keeps retrying, and `close()`
    /// from another thread ends the waiting `nextFrame()` at once.
    func testWaitForDeviceRetriesUntilClosed() throws {
        let config = V4L2Config(
            device: "usb-not-plugged-in-video-index0", reconnectInitialDelay: 0.02, reconnectMaxDelay: 0.05,
            waitForDevice: true)
        let source = try V4L2Source(config: config)
        XCTAssertEqual(source.state, .reconnecting)
        XCTAssertTrue(source.lastError?.contains("/dev/v4l/by-id/usb-not-plugged-in-video-index0") ?? false)
        let returned = expectation(description: "nextFrame returned")
        let result = LockedBox<Frame?>(nil)
        Thread.detachNewThread {
            result.value = try? source.nextFrame()
            returned.fulfill()
        }
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertGreaterThanOrEqual(source.stats.failedReconnectAttempts, 2)
        let closedAt = Date()
        source.close()
        wait(for: [returned], timeout: 2)
        XCTAssertLessThan(Date().timeIntervalSince(closedAt), 0.5)
        XCTAssertNil(result.value)
        XCTAssertEqual(source.state, .finished)
        XCTAssertEqual(source.counters.reconnects, 0)

        // Without waitForDevice the same missing camera fails the start.
        XCTAssertThrowsError(try V4L2Source(config: V4L2Config(device: "usb-not-plugged-in-video-index0")))
    }

    func testGivesUpAfterMaxAttempts() throws {
        let config = V4L2Config(
            device: "/dev/video-missing", reconnectInitialDelay: 0.01, reconnectMaxDelay: 0.01,
            reconnectMaxAttempts: 3, waitForDevice: true)
        let source = try V4L2Source(config: config)
        XCTAssertNil(try source.nextFrame())
        XCTAssertEqual(source.state, .failed)
        XCTAssertEqual(source.stats.failedReconnectAttempts, 3)
        XCTAssertTrue(
            source.lastError?.contains("gave up reconnecting after 3 attempts") ?? false, "\(source.lastError ?? "")")
    }
}

/// A value shared between a test and a thread it starts.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
