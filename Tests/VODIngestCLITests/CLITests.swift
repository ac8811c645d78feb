import Foundation
import IngestTesting
import Testing

/// Reads a pipe to its end on a thread of its own.
final class PipeReader: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}

extension Thread {
    static func detachedReader(_ handle: FileHandle) -> PipeReader { PipeReader(handle) }
}

/// Runs the built `vodingest` binary, as a user would.
struct CLI {
    static let root = repositoryRoot()

    /// `.build/<config>/vodingest`, next to the test bundle.
    static var binary: String {
        let candidates = [
            Bundle.main.bundleURL.appendingPathComponent("vodingest").path,
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("vodingest").path,
            root + "/.build/debug/vodingest",
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// ``run(_:stdin:cwd:environment:executable:)`` from an async test: the child is waited for on
    /// a thread of its own. Swift Testing runs tests on the cooperative pool (two threads on a
    /// 2-core machine), which the in-process emulators of other tests also need: a test blocked
    /// there for the seconds of a child's run starved them (their calls timed out under CI load).
    static func run(
        _ arguments: [String], stdin: String? = nil, cwd: String = root, environment: [String: String] = [:], executable: String? = nil
    ) async throws -> Result {
        try await offPool { try run(arguments, stdin: stdin, cwd: cwd, environment: environment, executable: executable) as Result }
    }

    /// - Parameter executable: another program than `vodingest` (a shell that sets a limit first);
    ///   `arguments` then start with its own name, which is dropped.
    static func run(
        _ arguments: [String], stdin: String? = nil, cwd: String = root, environment: [String: String] = [:], executable: String? = nil
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable ?? binary)
        process.arguments = executable == nil ? arguments : Array(arguments.dropFirst())
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.currentDirectoryURL = URL(fileURLWithPath: cwd)
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Both pipes at once: a process that fills one (debug logs on stderr) while the other is read would block.
        let errReader = Thread.detachedReader(err.fileHandleForReading)
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = errReader.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }
}

@Suite("vodingest binary", .serialized)
struct CLITests {
    @Test func binaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: CLI.binary), "build first: swift build")
    }

    @Test func goodSamplesExitZero() async throws {
        let r = try await CLI.run(["validate", "samples/good.csv", "samples/good.xml"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("6 rows: 6 valid, 0 invalid"))
    }

    @Test func problemsManifestExits65WithEveryCode() async throws {
        let r = try await CLI.run(["validate", "--checksums", "--format", "json", "samples/problems.csv"])
        #expect(r.status == 65)
        let doc = try CLI.json(r.stdout)
        let diagnostics = try #require(doc["diagnostics"] as? [[String: Any]])
        let codes = Set(diagnostics.compactMap { $0["code"] as? String })
        let expected: Set<String> = [
            "manifest.unknown-column", "manifest.malformed", "row.duplicate-id", "row.duplicate-file",
            "path.missing", "path.not-regular-file", "file.empty", "path.outside-root", "extension.unsupported",
            "content.mismatch", "checksum.mismatch", "cover.missing", "cover.content-mismatch",
            "cover.extension-unsupported", "metadata.too-long", "metadata.invalid",
        ]
        #expect(expected.subtracting(codes).isEmpty, "missing: \(expected.subtracting(codes))")
        #expect(doc["rows"] as? Int == 20)
        #expect(doc["invalid"] as? Int == 19)
        #expect(doc["warnings"] as? Int == 1)
        for d in diagnostics {
            for key in ["manifest", "line", "id", "field", "code", "severity", "message"] {
                #expect(d.keys.contains(key), "diagnostic lacks \(key): \(d)")
            }
        }
        // The HTML page row names its line and id.
        let html = try #require(diagnostics.first { $0["code"] as? String == "content.mismatch" })
        #expect(html["line"] as? Int == 14)
        #expect(html["id"] as? String == "html")
    }

    @Test func textOutputGroupsByManifestAndLine() async throws {
        let r = try await CLI.run(["validate", "samples/problems.csv", "samples/good.csv"])
        #expect(r.status == 65)
        #expect(r.stdout.hasPrefix("samples/problems.csv\n"))
        #expect(r.stdout.contains("  line 8 (id missing):\n    error   path.missing"))
        #expect(r.stdout.contains("2 manifests, 23 rows"))
    }

    /// Exit 70: the run cannot finish its own work (here summary.json cannot be written); the
    /// message says what, and that the journal has everything (the next run writes it).
    @Test func aStateDirectoryWhoseSummaryCannotBeWrittenIsAnInternalError() async throws {
        let state = try TemporaryDirectory()
        defer { state.remove() }
        try FileManager.default.createDirectory(atPath: state.path + "/summary.json", withIntermediateDirectories: true)
        let r = try await CLI.run(["ingest", "samples/good.csv", "--state-dir", state.path])
        #expect(r.status == 70, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("internal error: cannot write \(state.path)/summary.json") && r.stderr.contains("[report.unwritable]"))
        #expect(r.stderr.contains("the journal keeps everything") && r.stderr.components(separatedBy: "internal error").count == 2)
        // Nothing was lost: with the folder out of the way, the same command finishes with every row committed already.
        try FileManager.default.removeItem(atPath: state.path + "/summary.json")
        let again = try await CLI.run(["ingest", "samples/good.csv", "--state-dir", state.path])
        #expect(again.status == 0 && again.stdout.contains("0 committed, 3 already committed"), "\(again.stdout)\(again.stderr)")
    }

    @Test func anEmulatorOnAPortInUseIsAUsageErrorThatSaysSo() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let first = try StandaloneEmulator(dataDirectory: dir.path + "/a")
        let port = try #require(first.url.split(separator: ":").last.map(String.init))
        let r = try await CLI.run(["emulator", "--port", port, "--data-dir", dir.path + "/b"])
        #expect(r.status == 64 && r.stderr.contains("cannot listen on 127.0.0.1:\(port)") && r.stderr.contains("--port"), "\(r.stderr)")
    }

    @Test func unreadableManifestExits66() async throws {
        let r = try await CLI.run(["validate", "samples/good.csv", "no/such/manifest.csv"])
        #expect(r.status == 66)
        #expect(r.stdout.contains("manifest.unreadable"))
        #expect(r.stdout.contains("3 rows: 3 valid"))  // the readable manifest was still checked
    }

    /// An endpoint must be an http(s) URL with a host, refused before anything runs (before, `ftp://x`
    /// was taken and every row then failed with a DNS error).
    @Test(arguments: ["ftp://x", "notaurl", "http://a b", "file:///tmp/x"])
    func anEndpointThatIsNotHTTPIsRefused(url: String) async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let tencent = try await CLI.run(
            ["ingest", "--provider", "tencent", "--cos-endpoint", url, "samples/good.csv", "--state-dir", lib.path],
            environment: ["TENCENTCLOUD_SECRET_ID": "id", "TENCENTCLOUD_SECRET_KEY": "key"])
        #expect(tencent.status == 64 && tencent.stderr.contains("'\(url)' is not"), "\(tencent.stderr)")
        let aliyun = try await CLI.run(
            ["ingest", "--provider", "aliyun", "--endpoint", url, "samples/aliyun.csv", "--state-dir", lib.path],
            environment: ["ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret"])
        #expect(aliyun.status == 64 && aliyun.stderr.contains("'\(url)' is not"), "\(aliyun.stderr)")
        #expect(!FileManager.default.fileExists(atPath: lib.path + "/journal.sqlite"), "nothing ran")
    }

    @Test(arguments: [
        ["validate"], ["validate", "--provider", "nope", "x.csv"], ["validate", "--format", "yaml", "x.csv"],
        ["plan", "--part-size", "huge", "samples/good.csv"], ["plan", "--bandwidth", "fast", "samples/good.csv"],
        ["validate", "-", "-"], ["validate", "--checksums", "--no-file-checks", "x.csv"], ["frobnicate"],
        ["emulator", "--rate-limit=-1"], ["emulator", "--latency=-5"], ["emulator", "--credential-lifetime=-1"],
        ["emulator", "--event-wait=-1"],
    ])
    func usageErrorsExit64(arguments: [String]) throws {
        let r = try CLI.run(arguments)
        #expect(r.status == 64, "\(arguments): \(r.stderr)")
        #expect(!r.stderr.isEmpty)
    }

    @Test func standardInputWithRoot() async throws {
        let csv = "id,path\nfrom-stdin,media/ep1.mp4\n"
        let r = try await CLI.run(["validate", "--root", "samples", "--format", "json", "-"], stdin: csv)
        #expect(r.status == 0, "\(r.stdout)")
        let doc = try CLI.json(r.stdout)
        #expect(doc["manifests"] as? [String] == ["<stdin>"])
        #expect(doc["valid"] as? Int == 1)
    }

    @Test func dtdManifestIsRefused() async throws {
        let r = try await CLI.run(["validate", "samples/problems-dtd.xml"])
        #expect(r.status == 65)
        #expect(r.stdout.contains("DOCTYPE"))
    }

    @Test func planJSON() async throws {
        let r = try await CLI.run([
            "plan", "--format", "json", "--bandwidth", "10MB/s", "--api-rate", "50", "samples/good.csv", "samples/good.xml",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try CLI.json(r.stdout)
        let plan = try #require(doc["plan"] as? [String: Any])
        #expect(plan["items"] as? Int == 6)
        #expect(plan["covers"] as? Int == 3)
        // 6 ApplyUpload, 6 CommitUpload, 5 ModifyMediaInfo (rows with a description or tags), capped at 50/s together.
        #expect(plan["apiCalls"] as? Int == 17)
        #expect(plan["apiRate"] as? Double == 50)
        let estimate = try #require(plan["estimate"] as? [String: Any])
        #expect(estimate["bottleneck"] as? String == "api-rate")
        let bytes = try #require(plan["bytes"] as? Int)
        let onDisk = try [
            "media/ep1.mp4", "media/ep2.webm", "media/theme.mp3", "media/ep3.mp4", "media/jingle.mp3",
            "media/trailer", "covers/ep1.jpg", "covers/ep2.png", "covers/ep3.png",
        ]
        .map { try FileManager.default.attributesOfItem(atPath: CLI.root + "/samples/" + $0)[.size] as! Int }
        .reduce(0, +)
        #expect(bytes == onDisk)
    }

    @Test func planWithInvalidRowsLeavesThemOut() async throws {
        let r = try await CLI.run(["plan", "samples/problems.csv"])
        #expect(r.status == 65)
        #expect(r.stdout.contains("invalid left out"))
        #expect(r.stderr.contains("vodingest validate"))
    }
}

/// Runs blocking work (a child process, a wait for one) on a thread of its own, off the
/// cooperative pool (see ``CLI/run(_:stdin:cwd:environment:executable:)``).
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 1 << 20
        thread.start()
    }
}
