import Foundation
import IngestTesting
import Manifests
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `vodingest ingest` started in the background, its standard error read as it comes.
final class RunningIngest: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var errText = ""
    private let out = Pipe()
    private let err = Pipe()

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: CLI.root)
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        err.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            guard let self, !chunk.isEmpty else { return }
            self.lock.withLock { self.errText += String(decoding: chunk, as: UTF8.self) }
        }
        try process.run()
    }

    var stderr: String { lock.withLock { errText } }

    /// The first match of `pattern` in standard error, waiting up to `seconds`.
    func await(_ pattern: String, seconds: Double = 30) async -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        let regex = try! NSRegularExpression(pattern: pattern)
        while Date() < deadline {
            let text = stderr
            if let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
                let range = Range(match.range(at: match.numberOfRanges > 1 ? 1 : 0), in: text)
            {
                return String(text[range])
            }
            if !process.isRunning { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// Waits for the end (off the cooperative pool); the exit status and standard output.
    func finish() async -> (status: Int32, stdout: String) {
        let (process, out, err) = (self.process, self.out, self.err)
        let end = try? await offPool { () -> (Int32, String) in
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            err.fileHandleForReading.readabilityHandler = nil
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        return end ?? (-1, "")
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

@Suite("live status: /metrics and the page in a browser", .serialized)
struct StatusPageTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// A run paced by --bandwidth (about 36 s unless stopped: Chromium can take most of 20 s to start
    /// on a loaded machine), seen while it goes on: /metrics has the totals (known before the first
    /// byte) and the items in flight; headless Chromium loads the page and shows the same numbers.
    /// The run is then stopped with SIGTERM, which shows it was still going on (143, not 0).
    @Test func aRunInProgressIsSeenInPrometheusAndInABrowser() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        var csv = "id,path\n"
        for i in 0..<3 {
            try lib.write("m/s\(i).mp4", bytes: MediaBytes.mp4 + Array(repeating: UInt8(i), count: 600_000))
            csv += "s\(i),m/s\(i).mp4\n"
        }
        let manifest = try lib.write("s.csv", csv)
        let run = try RunningIngest([
            "ingest", manifest, "--state-dir", lib.path + "/state", "--bandwidth", "50KiB/s", "--concurrency", "1", "--grace", "0",
            "--status-addr", "0",
        ])
        let url = try #require(await run.await(#"Live status: (http://127\.0\.0\.1:[0-9]+/)"#), "\(run.stderr)")
        // Wait until the first item is under way.
        var metrics = ""
        for _ in 0..<100 {
            let (data, response) = try await URLSession.shared.data(from: URL(string: url + "metrics")!)
            #expect((response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Content-Type")?.hasPrefix("text/plain") == true)
            metrics = String(decoding: data, as: UTF8.self)
            if metrics.contains(#"vodingest_items{state="in_flight"} 1.0"#) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(metrics.contains("vodingest_items_planned 3.0"), "\(metrics)")
        #expect(metrics.contains(#"vodingest_items{state="in_flight"} 1.0"#), "\(metrics)")
        #expect(metrics.contains(#"vodingest_api_calls_total{action="ApplyUpload"}"#))
        #expect(metrics.contains("# TYPE vodingest_api_calls_total counter"))
        let names = metrics.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.map { $0.prefix { $0 != "{" && $0 != " " } }
        #expect(!names.isEmpty && names.allSatisfy { $0.hasPrefix("vodingest_") }, "\(names)")

        let browser = try #require(Self.chromium, "headless Chromium is needed: scripts/setup --tests installs it")
        let chrome = Process()
        chrome.executableURL = URL(fileURLWithPath: browser)
        // In a container /dev/shm is small: --disable-dev-shm-usage keeps Chromium's renderer from dying there.
        chrome.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=\(lib.path)/chrome", "--dump-dom",
            url,
        ]
        let dom = Pipe()
        let log = Pipe()
        chrome.standardOutput = dom
        chrome.standardError = log
        try chrome.run()
        let logReader = PipeReader(log.fileHandleForReading)
        let page = try await offPool { () -> String in
            let page = String(decoding: dom.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            chrome.waitUntilExit()
            return page
        }
        let chromeLog = String(decoding: logReader.wait(), as: UTF8.self)
        #expect(chrome.terminationStatus == 0, "\(chromeLog.suffix(2000))")
        #expect(!page.isEmpty, "Chromium loaded nothing: \(chromeLog.suffix(2000))")
        #expect(page.contains(#"<span id="phase">uploading</span>"#), "\(page.prefix(2000))")
        #expect(page.contains(#"<span id="items-total">3</span>"#))
        #expect(page.contains(#"<td id="items-in_flight">1</td>"#))
        #expect(page.contains(#"<meta http-equiv="refresh" content="2">"#))

        // Still uploading: the signal stops it in order (143), which a finished run could not answer.
        kill(run.process.processIdentifier, SIGTERM)
        let end = await run.finish()
        #expect(end.status == 143, "the run had ended before the page was checked: \(end.stdout)\(run.stderr)")
    }

    @Test func aStatusAddressThatIsNotOneIsRefused() async throws {
        for bad in ["nope", "127.0.0.1:99999", "[::1]9100", ":"] {
            let r = try await CLI.run(["ingest", "samples/good.csv", "--status-addr", bad])
            #expect(r.status == 64 && r.stderr.contains("--status-addr"), "\(bad): \(r.stderr)")
        }
    }
}
