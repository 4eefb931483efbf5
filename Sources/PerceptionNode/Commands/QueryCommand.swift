import ArgumentParser
import Foundation
import NodeRuntime
import PerceptionMessages

/// `query`: a client. Sends one Query to the node's service socket and prints the Result as JSON.
struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Send one query to a running node's service socket and print the Result as JSON.",
        discussion: "Exit status: 0 when a Result arrived (whatever its status), 1 on timeout or a transport error.")

    @Option(help: "The node's service endpoint (bus.service).") var connect = "tcp://127.0.0.1:5562"
    @Option(help: "The question.") var text: String?
    @Option(help: "Direct SAM2 box prompt x1,y1,x2,y2 in image pixels (repeatable; skips reasoning).") var box: [String] = []
    @Option(help: "Direct SAM2 point prompt x,y[,label] (label 1 foreground, 0 background; repeatable).") var point: [String] = []
    @Option(help: "Answer format: auto, single or multi (default: the node's model.mode).") var mode: String?
    @Option(help: "Mask encoding: rle, png or none.") var mask = "rle"
    @Flag(help: "Leave the reasoning chain out of the Result.") var noThink = false
    @Option(help: "Answer about the frame with this capture stamp (ns).") var stamp: Int64?
    @Option(help: "Answer about the frame with this sequence number.") var seq: UInt64?
    @Option(help: "Deadline in ms from arrival (or absolute UTC epoch ms).") var deadlineMs: Int64?
    @Option(help: "request_id (default: a random UUID).") var requestId: String?
    @Option(help: "Seconds to wait for the Result.") var timeout: Double = 30

    func validate() throws {
        if text == nil && box.isEmpty && point.isEmpty { throw ValidationError("give --text, or a --box / --point prompt") }
        if stamp != nil && seq != nil { throw ValidationError("give at most one of --stamp and --seq") }
    }

    static func numbers(_ s: String, count: ClosedRange<Int>, what: String) throws -> [Double] {
        let parts = s.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard count.contains(parts.count), parts.allSatisfy({ $0 != nil }) else {
            throw ValidationError("\(what) '\(s)' must be \(count.lowerBound == count.upperBound ? "\(count.lowerBound)" : "\(count.lowerBound) or \(count.upperBound)") comma-separated numbers")
        }
        return parts.compactMap { $0 }
    }

    func run() throws {
        var q = Query(requestId: requestId ?? UUID().uuidString, text: text)
        if let mode {
            guard let m = Query.Mode(rawValue: mode) else { throw ValidationError("--mode must be auto, single or multi") }
            q.mode = m
        }
        guard let enc = Query.MaskEncoding(rawValue: mask) else { throw ValidationError("--mask must be rle, png or none") }
        q.outputs = Query.Outputs(mask: enc, think: !noThink)
        if !box.isEmpty || !point.isEmpty {
            var p = Query.Prompt()
            for b in box { p.boxes.append(try Self.numbers(b, count: 4...4, what: "--box")) }
            for pt in point {
                let n = try Self.numbers(pt, count: 2...3, what: "--point")
                p.points.append([n[0], n[1]])
                p.labels.append(n.count == 3 ? Int(n[2]) : 1)
            }
            q.prompt = p
        }
        if let stamp { q.frame = .stamp(stamp) }
        if let seq { q.frame = .seq(seq) }
        q.deadlineMs = deadlineMs

        let context = try ZMQContext()
        let dealer = try ZMQSocket(context, .dealer)
        try dealer.setLinger(ms: 0)
        try dealer.connect(connect)
        try dealer.send([q.encoded()])
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let wait = Int(max(1, min(200, deadline.timeIntervalSinceNow * 1000)))
            guard try ZMQSocket.pollIn([dealer], timeoutMs: wait)[0], let msg = try dealer.receive(dontWait: true), let payload = msg.last else {
                continue
            }
            let value = try MsgPack.decode(payload)
            guard value["request_id"] == .string(q.requestId) || value["request_id"] == .string("") else { continue }
            print(JSONText.render(value))
            dealer.close(lingerMs: 0)
            return
        }
        dealer.close(lingerMs: 0)
        FileHandle.standardError.write(Data("query: no Result from \(connect) within \(timeout) s\n".utf8))
        throw ExitCode(1)
    }
}
