import CZMQ

/// A libzmq failure: the call that failed, errno and libzmq's text.
public struct ZMQError: Error, CustomStringConvertible, Equatable {
    public var operation: String
    public var errno: Int32
    public var description: String {
        "\(operation): \(String(cString: zmq_strerror(errno))) (errno \(errno))"
    }
    static func last(_ operation: String) -> ZMQError { ZMQError(operation: operation, errno: zmq_errno()) }
}

/// A libzmq context. Thread-safe (libzmq contexts are); terminate it only after every socket is closed.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    public init() throws {
        guard let h = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        handle = h
    }

    deinit { zmq_ctx_term(handle) }
}

/// One libzmq socket. Not Sendable: libzmq sockets are not thread-safe, so a socket is created, used and
/// closed by exactly one thread (the `BusThread`, the worker's reply pusher, or a client).
public final class ZMQSocket {
    public enum Kind {
        case pub, sub, router, dealer, push, pull
        var raw: Int32 {
            switch self {
            case .pub: return ZMQ_PUB
            case .sub: return ZMQ_SUB
            case .router: return ZMQ_ROUTER
            case .dealer: return ZMQ_DEALER
            case .push: return ZMQ_PUSH
            case .pull: return ZMQ_PULL
            }
        }
    }

    private var handle: UnsafeMutableRawPointer?
    /// Keeps the context alive while the socket is open.
    private let context: ZMQContext
    public let kind: Kind

    public init(_ context: ZMQContext, _ kind: Kind) throws {
        guard let h = zmq_socket(context.handle, kind.raw) else { throw ZMQError.last("zmq_socket") }
        self.handle = h
        self.context = context
        self.kind = kind
    }

    deinit { close(lingerMs: 0) }

    private func live(_ op: String) throws -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError(operation: op, errno: ENOTSOCK) }
        return handle
    }

    public func set(_ option: Int32, _ value: Int32, name: String) throws {
        var v = value
        guard zmq_setsockopt(try live(name), option, &v, MemoryLayout<Int32>.size) == 0 else { throw ZMQError.last("zmq_setsockopt(\(name))") }
    }

    public func set(_ option: Int32, _ value: Int64, name: String) throws {
        var v = value
        guard zmq_setsockopt(try live(name), option, &v, MemoryLayout<Int64>.size) == 0 else { throw ZMQError.last("zmq_setsockopt(\(name))") }
    }

    public func set(_ option: Int32, bytes: [UInt8], name: String) throws {
        let h = try live(name)
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(h, option, $0.baseAddress, $0.count) }
        guard rc == 0 else { throw ZMQError.last("zmq_setsockopt(\(name))") }
    }

    public func setSendHWM(_ n: Int) throws { try set(ZMQ_SNDHWM, Int32(clamping: n), name: "ZMQ_SNDHWM") }
    public func setReceiveHWM(_ n: Int) throws { try set(ZMQ_RCVHWM, Int32(clamping: n), name: "ZMQ_RCVHWM") }
    public func setLinger(ms: Int) throws { try set(ZMQ_LINGER, Int32(clamping: ms), name: "ZMQ_LINGER") }
    /// Larger inbound messages make libzmq drop the sending peer's connection before we see them.
    public func setMaxMessageSize(_ bytes: Int) throws { try set(ZMQ_MAXMSGSIZE, Int64(bytes), name: "ZMQ_MAXMSGSIZE") }
    public func setRouterMandatory() throws { try set(ZMQ_ROUTER_MANDATORY, Int32(1), name: "ZMQ_ROUTER_MANDATORY") }
    public func subscribe(_ prefix: String) throws { try set(ZMQ_SUBSCRIBE, bytes: Array(prefix.utf8), name: "ZMQ_SUBSCRIBE") }

    public func bind(_ endpoint: String) throws {
        guard zmq_bind(try live("bind"), endpoint) == 0 else { throw ZMQError.last("zmq_bind(\(endpoint))") }
    }

    public func connect(_ endpoint: String) throws {
        guard zmq_connect(try live("connect"), endpoint) == 0 else { throw ZMQError.last("zmq_connect(\(endpoint))") }
    }

    /// Sends a multipart message. Returns false when `dontWait` and the message could not be queued (EAGAIN).
    @discardableResult
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws -> Bool {
        let h = try live("send")
        for (i, frame) in frames.enumerated() {
            var flags: Int32 = dontWait ? ZMQ_DONTWAIT : 0
            if i + 1 < frames.count { flags |= ZMQ_SNDMORE }
            while true {
                let rc = frame.withUnsafeBytes { zmq_send(h, $0.baseAddress, $0.count, flags) }
                if rc >= 0 { break }
                let e = zmq_errno()
                if e == EINTR { continue }
                if e == EAGAIN && i == 0 { return false }
                throw ZMQError(operation: "zmq_send", errno: e)
            }
        }
        return true
    }

    /// Receives one whole multipart message; nil when `dontWait` and nothing is ready.
    public func receive(dontWait: Bool = false) throws -> [[UInt8]]? {
        let h = try live("receive")
        var frames: [[UInt8]] = []
        var msg = zmq_msg_t()
        zmq_msg_init(&msg)
        defer { zmq_msg_close(&msg) }
        while true {
            let rc = zmq_msg_recv(&msg, h, dontWait || !frames.isEmpty ? (frames.isEmpty ? ZMQ_DONTWAIT : 0) : 0)
            if rc < 0 {
                let e = zmq_errno()
                if e == EINTR { continue }
                if e == EAGAIN && frames.isEmpty { return nil }
                throw ZMQError(operation: "zmq_msg_recv", errno: e)
            }
            let size = zmq_msg_size(&msg)
            if size > 0, let data = zmq_msg_data(&msg) {
                frames.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
            } else {
                frames.append([])
            }
            if zmq_msg_more(&msg) == 0 { return frames }
        }
    }

    /// Waits up to `timeoutMs` (-1: forever) for input on any of `sockets`; returns which are readable.
    public static func pollIn(_ sockets: [ZMQSocket], timeoutMs: Int) throws -> [Bool] {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let rc = zmq_poll(&items, Int32(items.count), timeoutMs)
        if rc < 0 {
            let e = zmq_errno()
            if e == EINTR { return Array(repeating: false, count: sockets.count) }
            throw ZMQError(operation: "zmq_poll", errno: e)
        }
        return items.map { ($0.revents & Int16(ZMQ_POLLIN)) != 0 }
    }

    /// Closes the socket; pending outbound messages are kept for up to `lingerMs`.
    public func close(lingerMs: Int) {
        guard let h = handle else { return }
        var l = Int32(clamping: lingerMs)
        zmq_setsockopt(h, ZMQ_LINGER, &l, MemoryLayout<Int32>.size)
        zmq_close(h)
        handle = nil
    }
}

@available(*, unavailable, message: "a ZeroMQ socket belongs to the thread that created it")
extension ZMQSocket: Sendable {}
