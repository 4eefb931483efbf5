/// The `error.code` values of a Result (DESIGN §3, contract: only ever added to).
public enum ErrorCode: String, Sendable, CaseIterable, Equatable {
    case badRequest = "bad_request"
    case unsupportedVersion = "unsupported_version"
    case noFrame = "no_frame"
    case modelUnavailable = "model_unavailable"
    case overloaded
    case deadlineExceeded = "deadline_exceeded"
    case answerUnparseable = "answer_unparseable"
    case `internal`
}

/// A Result's `error` map: a code and a human-readable message naming what was wrong.
public struct ResultError: Sendable, Equatable, Error {
    public var code: ErrorCode
    public var message: String
    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}
