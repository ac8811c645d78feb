import ArgumentParser

/// Every exit code of the tool, decided here and nowhere else (documented in the README).
public enum ExitStatus: Int32, Sendable {
    /// Every row valid (validate, plan); every valid row committed (ingest).
    case success = 0
    /// Bad command line.
    case usage = 64
    /// Some rows are invalid or a manifest is malformed.
    case invalidRows = 65
    /// A manifest cannot be opened or read.
    case manifestUnreadable = 66
    /// Some items failed after retries, or the run stopped early (ingest); a re-run may succeed.
    case itemsFailed = 75
    /// An internal error: a bug, please report it.
    case internalError = 70

    var exitCode: ExitCode { ExitCode(rawValue) }
}
