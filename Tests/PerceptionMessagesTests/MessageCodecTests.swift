import PerceptionMessages
import XCTest

final class MessageCodecTests: XCTestCase {
    func testMsgPackRoundTripsEveryType() throws {
        let value = MsgValue.object([
            ("nil", .null), ("t", .bool(true)), ("f", .bool(false)), ("neg", .int(-5_000_000_000)), ("small", .int(-3)),
            ("big", .uint(UInt64.max)), ("pi", .double(3.25)), ("s", .string("grüße")), ("bin", .binary([0, 1, 255])),
            ("arr", .array([.int(-1), .string(""), .array([])])), ("ext", .ext(type: 5, data: [1, 2, 3])),
        ])
        let decoded = try MsgPack.decode(MsgPack.encode(value))
        XCTAssertEqual(decoded["s"], .string("grüße"))
        XCTAssertEqual(decoded["big"], .uint(UInt64.max))
        XCTAssertEqual(decoded["neg"], .int(-5_000_000_000))
        XCTAssertEqual(decoded["small"], .int(-3))
        XCTAssertEqual(decoded["pi"], .double(3.25))
        XCTAssertEqual(decoded["bin"], .binary([0, 1, 255]))
        XCTAssertEqual(decoded["ext"], .ext(type: 5, data: [1, 2, 3]))
        XCTAssertEqual(decoded["arr"], .array([.int(-1), .string(""), .array([])]))
        XCTAssertEqual(decoded["nil"], .null)
    }

    func testMsgPackRejectsBadFraming() {
        XCTAssertThrowsError(try MsgPack.decode([])) { XCTAssertEqual($0 as? MsgPackDecodeError, .empty) }
        XCTAssertThrowsError(try MsgPack.decode([0xc1])) { XCTAssertEqual($0 as? MsgPackDecodeError, .malformed) }
        XCTAssertThrowsError(try MsgPack.decode([0x92, 0x01])) { XCTAssertEqual($0 as? MsgPackDecodeError, .truncated) }
        XCTAssertThrowsError(try MsgPack.decode([0x01, 0x02])) { XCTAssertEqual($0 as? MsgPackDecodeError, .trailingBytes(1)) }
        // A 5-byte message claiming 4 billion elements is refused before anything is allocated for it.
        XCTAssertThrowsError(try MsgPack.decode([0xdd, 0xff, 0xff, 0xff, 0xff])) { XCTAssertEqual($0 as? MsgPackDecodeError, .truncated) }
        XCTAssertThrowsError(try MsgPack.decode([0xdf, 0xff, 0xff, 0xff, 0xff, 0x01])) { XCTAssertEqual($0 as? MsgPackDecodeError, .truncated) }
        XCTAssertThrowsError(try MsgPack.decode([0xdb, 0xff, 0xff, 0xff, 0xff])) { XCTAssertEqual($0 as? MsgPackDecodeError, .truncated) }
        let deep = [UInt8](repeating: 0x91, count: 100) + [0x01]
        XCTAssertThrowsError(try MsgPack.decode(deep)) { XCTAssertEqual($0 as? MsgPackDecodeError, .tooDeep(limit: MsgPack.maxDepth)) }
    }

    func testRandomBytesNeverTrap() {
        var decodedSome = 0
        for n in 0..<20_000 {
            let bytes = (0..<(n % 40)).map { _ in UInt8.random(in: 0...255) }
            if (try? MsgPack.decode(bytes)) != nil { decodedSome += 1 }
            _ = Query.decode(bytes)
        }
        XCTAssertGreaterThan(decodedSome, 0)
    }

    func testQueryRoundTrip() throws {
        let q = Query(
            requestId: "r-1", text: "the red mug", mode: .multi,
            prompt: Query.Prompt(boxes: [[1, 2, 30, 40]], points: [[5, 6], [7, 8]], labels: [1, 0]),
            frame: .seq(42), outputs: Query.Outputs(mask: .png, think: false), deadlineMs: 1500)
        XCTAssertEqual(try Query.decode(q.encoded()).get(), q)
        let stamp = Query(requestId: "r-2", text: "x", frame: .stamp(-7))
        XCTAssertEqual(try Query.decode(stamp.encoded()).get(), stamp)
    }

    func testMinimalQueryDefaults() throws {
        let bytes = MsgPack.encode(.object([("request_id", .string("a")), ("text", .string("cup")), ("extra", .int(1))]))
        let q = try Query.decode(bytes).get()
        XCTAssertEqual(q.frame, .newest)
        XCTAssertEqual(q.outputs, Query.Outputs(mask: .rle, think: true))
        XCTAssertNil(q.mode)
        XCTAssertNil(q.deadlineMs)
    }

    private func rejection(_ pairs: [(String, MsgValue)], limits: QueryLimits = QueryLimits()) -> QueryRejection? {
        if case .failure(let r) = Query.decode(MsgPack.encode(.object(pairs)), limits: limits) { return r }
        return nil
    }

    func testEveryFieldIsTypeChecked() {
        let base: [(String, MsgValue)] = [("request_id", .string("id-1")), ("text", .string("cup"))]
        let wrong: [(String, MsgValue, String)] = [
            ("v", .string("1"), "v must be int"), ("schema", .int(1), "schema must be str"), ("text", .int(5), "text must be str"),
            ("mode", .int(3), "mode must be str"), ("mode", .string("all"), "mode must be auto"),
            ("prompt", .string("p"), "prompt must be map"), ("frame", .array([]), "frame must be map"),
            ("frame", .object([("seq", .string("a"))]), "frame.seq"), ("frame", .object([("stamp_ns", .double(1.5))]), "frame.stamp_ns"),
            ("frame", .object([]), "frame must contain"), ("outputs", .string("rle"), "outputs must be map"),
            ("outputs", .object([("mask", .int(1))]), "outputs.mask must be str"),
            ("outputs", .object([("think", .string("yes"))]), "outputs.think must be bool"),
            ("deadline_ms", .string("soon"), "deadline_ms must be int"),
            ("prompt", .object([("boxes", .array([.array([.int(1), .int(2)])]))]), "prompt.boxes[0]"),
            ("prompt", .object([("boxes", .array([.array([.int(5), .int(5), .int(1), .int(1)])]))]), "x2 >= x1"),
            ("prompt", .object([("points", .array([.array([.double(.nan), .int(2)])]))]), "finite numbers"),
            ("prompt", .object([("points", .array([.array([.int(1), .int(2)])])), ("labels", .array([.int(1), .int(0)]))]), "prompt.labels has 2"),
            ("text", .invalidString([0xff, 0xfe]), "text is not valid UTF-8"),
        ]
        for (key, value, message) in wrong {
            let r = rejection(base.filter { $0.0 != key } + [(key, value)])
            XCTAssertEqual(r?.requestId, "id-1", key)
            XCTAssertEqual(r?.error.code, .badRequest, key)
            XCTAssertTrue(r?.error.message.contains(message) == true, "\(key): \(r?.error.message ?? "accepted")")
        }
    }

    func testRequestIdProblemsHaveNoId() {
        for id: MsgValue in [.int(1), .string(""), .invalidString([0xc3]), .string(String(repeating: "x", count: 300))] {
            let r = rejection([("request_id", id), ("text", .string("a"))])
            XCTAssertEqual(r?.error.code, .badRequest)
            XCTAssertNil(r?.requestId)
        }
        XCTAssertEqual(rejection([("text", .string("a"))])?.error.message, "missing required key request_id")
        if case .failure(let r) = Query.decode(MsgPack.encode(.array([]))) {
            XCTAssertTrue(r.error.message.contains("array"))
        } else {
            XCTFail("an array was accepted")
        }
    }

    func testVersionAndLimits() {
        XCTAssertEqual(rejection([("request_id", .string("a")), ("v", .int(2)), ("text", .string("x"))])?.error.code, .unsupportedVersion)
        let long = rejection([("request_id", .string("a")), ("text", .string(String(repeating: "é", count: 40)))],
                             limits: QueryLimits(maxTextBytes: 64))
        XCTAssertEqual(long?.error.code, .badRequest)
        XCTAssertTrue(long?.error.message.contains("max_text_bytes") == true)
        XCTAssertEqual(rejection([("request_id", .string("a"))])?.error.code, .badRequest)
        XCTAssertNil(rejection([("request_id", .string("a")), ("prompt", .object([("points", .array([.array([.int(1), .int(2)])]))]))]))
    }

    func testResultRoundTrip() throws {
        var r = QueryResult(requestId: "q", status: .ok)
        r.header = QueryResult.Header(stampNs: 1_700_000_000_000_000_000, frameId: "cam", seq: 9)
        r.imageSize = (640, 480)
        r.objects = [QueryResult.Object(bbox: [1, 2, 3, 4], points: [[2, 3]], score: 0.9, area: 4, centroid: [2.5, 3.5],
                                        mask: .cocoRLE(height: 480, width: 640, counts: "abc"))]
        r.think = "because"
        r.answer = "{}"
        r.timing.total = 12.5
        r.model = QueryResult.Model(reasoner: "a", segmenter: "b", backend: "blas")
        r.tokens = (100, 20)
        XCTAssertEqual(try QueryResult.decode(r.encoded()), r)
        let e = QueryResult.failure("x", ResultError(.overloaded, "full"))
        XCTAssertEqual(try QueryResult.decode(e.encoded()), e)
    }

    func testStatusRoundTrip() throws {
        var s = NodeStatus()
        s.nodeName = "n"
        s.state = "running"
        s.camera.state = "streaming"
        s.camera.framesDropped = 3
        s.requests.overloaded = 7
        s.queueCapacity = 64
        s.modelsLoaded = ["sam2"]
        s.lastError = "boom"
        XCTAssertEqual(NodeStatus.decode(s.encoded()), s)
        XCTAssertNil(NodeStatus.decode([0xc1]))
    }
}
