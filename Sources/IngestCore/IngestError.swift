/// A failure that stops a command (as opposed to a ``Diagnostic`` about one row).
///
/// `code` is stable; `message` says what happened and what to do. Never carries secrets.
public struct IngestError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: String
    public var message: String
    /// The manifest or file concerned, when there is one.
    public var subject: String?

    public init(code: String, message: String, subject: String? = nil) {
        self.code = code
        self.message = message
        self.subject = subject
    }

    public var description: String {
        if let subject { return "\(subject): \(message) [\(code)]" }
        return "\(message) [\(code)]"
    }

    /// A manifest that cannot be opened or read.
    public static func manifestUnreadable(_ manifest: String, reason: String) -> IngestError {
        IngestError(
            code: "manifest.unreadable",
            message: "cannot read the manifest: \(reason). Check the path and its permissions.",
            subject: manifest)
    }
}
