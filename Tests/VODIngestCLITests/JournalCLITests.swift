import Foundation
import IngestTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `vodingest ingest` in the background, its output in files.
final class BackgroundRun {
    let process = Process()
    let out: String

    /// - Parameter wrapper: a program that runs `vodingest` (`setpriv ...`), with its arguments.
    init(_ arguments: [String], environment: [String: String], directory: TemporaryDirectory, name: String, wrapper: [String] = []) throws {
        out = directory.path + "/\(name).out"
        FileManager.default.createFile(atPath: out, contents: nil)
        process.executableURL = URL(fileURLWithPath: wrapper.first ?? CLI.binary)
        process.arguments = wrapper.isEmpty ? arguments : Array(wrapper.dropFirst()) + [CLI.binary] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: CLI.root)
        let handle = FileHandle(forWritingAtPath: out)!
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var output: String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }

    /// Waits for the end (off the cooperative pool); the exit status.
    func wait() async -> Int32 {
        let process = self.process
        return
            (try? await offPool { () -> Int32 in
                process.waitUntilExit()
                return process.terminationStatus
            }) ?? -1
    }
}

/// Polls `condition` (each poll a real check, not a guess of timing) for up to `seconds`.
func eventually(_ seconds: Double = 60, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return false
}

@Suite("journal, resume, report and audit end to end", .serialized)
struct JournalCLITests {
    @Test func aSecondRunIsANoOpAndTheReportAuditsClean() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let state = lib.path + "/state"
        let first = try await CLI.run(["ingest", "samples/good.csv", "samples/good.xml", "--state-dir", state])
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        let again = try await CLI.run(["ingest", "samples/good.csv", "samples/good.xml", "--state-dir", state, "--format", "json"])
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        let summary = try CLI.json(try String(contentsOfFile: state + "/summary.json", encoding: .utf8))
        let counts = try #require(summary["counts"] as? [String: Any])
        #expect(counts["apiCalls"] as? Int == 0, "nothing is asked of the platform")
        #expect(counts["alreadyCommitted"] as? Int == 6)
        let firstIDs = Set(try reportRows(state).compactMap { $0["file_id"] })
        #expect(firstIDs.count == 6)

        // Every format, from the journal.
        for format in ["csv", "jsonl", "json", "html"] {
            let r = try await CLI.run(["report", "--state-dir", state, "--format", format, "--output", lib.path + "/r.\(format)"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("6 rows: 6 committed"))
        }
        let document = try CLI.json(try String(contentsOfFile: lib.path + "/r.json", encoding: .utf8))
        let index = try #require(document["summary"] as? [String: Any])
        #expect((index["counts"] as? [String: Int])?["committed"] == 6)
        let runs = try #require(index["runs"] as? [[String: Any]])
        #expect(runs.count == 2)
        let manifests = try #require(runs.first?["manifests"] as? [[String: Any]])
        #expect(manifests.allSatisfy { ($0["sha256"] as? String)?.count == 64 }, "manifest checksums")
        let html = try String(contentsOfFile: lib.path + "/r.html", encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("6137") == html.contains("6137"))
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"), "self-contained")
        #expect(FileManager.default.fileExists(atPath: lib.path + "/r.csv.summary.json"))

        for report in [state + "/report.csv", lib.path + "/r.jsonl", lib.path + "/r.json"] {
            let audit = try await CLI.run([
                "audit", "samples/good.csv", "samples/good.xml", "--report", report, "--verify-remote", "--state-dir", state,
            ])
            #expect(audit.status == 0, "\(report): \(audit.stdout)\(audit.stderr)")
            #expect(audit.stdout.contains("6 media ids checked on the platform: no findings"))
        }
    }

    @Test func auditFindsEachKindOfProblem() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let state = lib.path + "/state"
        #expect(try await CLI.run(["ingest", "samples/good.csv", "samples/good.xml", "--state-dir", state]).status == 0)
        var lines = try String(contentsOfFile: state + "/report.csv", encoding: .utf8).split(separator: "\n").map(String.init)
        let header = lines.removeFirst().split(separator: ",").map(String.init)
        func column(_ name: String) -> Int { header.firstIndex(of: name)! }
        var rows = lines.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows.count == 6)
        rows.removeFirst()  // audit.missing-row
        // audit.duplicate-file-id, and remote-mismatch and remote-metadata-drift: another row's media, with its name and metadata
        rows[0][column("file_id")] = rows[1][column("file_id")]
        rows[1][column("size")] = "1"  // audit.size-mismatch
        // audit.checksum-mismatch against the file, audit.remote-checksum-mismatch against the platform's MD5
        rows[2][column("md5")] = String(repeating: "0", count: 32)
        rows[3][column("file_id")] = "1888888888888888888"  // audit.remote-missing
        var extra = rows[4]
        extra[column("line")] = "99"  // audit.extra-row
        rows.append(extra)
        let tampered = try lib.write("tampered.csv", ([header] + rows).map { $0.joined(separator: ",") }.joined(separator: "\n") + "\n")
        let r = try await CLI.run([
            "audit", "samples/good.csv", "samples/good.xml", "--report", tampered, "--verify-remote", "--state-dir", state, "--format",
            "json",
        ])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        let findings = try #require(try CLI.json(r.stdout)["findings"] as? [[String: Any]])
        let codes = Set(findings.compactMap { $0["code"] as? String })
        #expect(
            codes == [
                "audit.missing-row", "audit.extra-row", "audit.duplicate-file-id", "audit.size-mismatch", "audit.checksum-mismatch",
                "audit.remote-missing", "audit.remote-mismatch", "audit.remote-metadata-drift", "audit.remote-checksum-mismatch",
            ], "\(findings)")
        let text = try await CLI.run(["audit", "samples/good.csv", "samples/good.xml", "--report", tampered])
        #expect(text.status == 1)
        #expect(text.stdout.contains("audit.missing-row  samples/good.csv:4  ep-001"), "\(text.stdout)")
    }

    @Test func spreadsheetFormulasInTheReportAreDefused() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        try lib.write("m/a.mp4", bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: CLI.root + "/samples/media/ep1.mp4"))))
        let manifest = try lib.write("formula.csv", "id,path,title\nf1,m/a.mp4,=HYPERLINK(\"http://x\")\n")
        let r = try await CLI.run(["ingest", manifest, "--state-dir", lib.path + "/state"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let csv = try String(contentsOfFile: lib.path + "/state/report.csv", encoding: .utf8)
        #expect(csv.contains(",\"'=HYPERLINK(\"\"http://x\"\")\","), "\(csv)")
        #expect(!csv.contains(",=HYPERLINK"))
        // The audit reads it back as the original title.
        let audit = try await CLI.run([
            "audit", manifest, "--report", lib.path + "/state/report.csv", "--verify-remote", "--state-dir", lib.path + "/state",
        ])
        #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)")
    }

    /// SIGINT drains (130), SIGTERM with no grace stops at once (143), a second process is refused,
    /// `report` works mid-run, and the next run finishes: every item committed exactly once.
    @Test func signalsStopSafelyAndTheNextRunFinishes() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let emulator = try StandaloneEmulator(dataDirectory: lib.path + "/emu")
        var csv = "id,path,title\n"
        let count = 16  // enough that the second run is still going when it is stopped (SIGINT drains what is in flight)
        for i in 0..<count {
            var bytes = MediaBytes.mp4
            bytes += [UInt8](repeating: UInt8(i), count: (600 << 10) - bytes.count)
            try lib.write("m/v\(i).mp4", bytes: bytes)
            csv += "s\(i),m/v\(i).mp4,Signal \(i)\n"
        }
        let manifest = try lib.write("slow.csv", csv)
        let state = lib.path + "/state"
        let environment = ["TENCENTCLOUD_SECRET_ID": emulator.secretID, "TENCENTCLOUD_SECRET_KEY": emulator.secretKey]
        func start(_ name: String, _ extra: [String]) throws -> BackgroundRun {
            try BackgroundRun(
                [
                    "ingest", "--provider", "tencent", "--endpoint", emulator.url, "--cos-endpoint", emulator.url, "--concurrency", "2",
                    "--bandwidth", "1MiB/s", manifest, "--state-dir", state,
                ] + extra, environment: environment, directory: lib, name: name)
        }
        func committed() async throws -> Int {
            let r = try await CLI.run(["report", "--state-dir", state])
            return r.stdout.split(separator: "\n").count { $0.contains(",committed,") }
        }

        let a = try start("a", [])
        #expect(try await eventually { try await committed() >= 1 }, "\(a.output)")
        // Mid-run: a second writer is refused; a reader is not.
        let second = try await emulator.ingest([manifest, "--state-dir", state])
        #expect(second.status == 75)
        #expect(second.stderr.contains("another vodingest (pid \(a.process.processIdentifier)) is using the state directory"))
        kill(a.process.processIdentifier, SIGINT)
        #expect(await a.wait() == 130, "\(a.output)")
        #expect(a.output.contains("run the same command again to resume"))

        let b = try start("b", ["--grace", "0"])
        let before = try await committed()
        #expect(try await eventually { try await committed() > before }, "\(b.output)")
        kill(b.process.processIdentifier, SIGTERM)
        #expect(await b.wait() == 143, "\(b.output)")

        let c = try start("c", [])
        #expect(await c.wait() == 0, "\(c.output)")
        let media = try #require(try await emulator.get("/_emulator/media") as? [[String: Any]])
        let names = media.compactMap { $0["name"] as? String }
        #expect(names.count == count && Set(names).count == count, "each item committed exactly once: \(names.sorted())")
        await #expect(try committed() == count)
    }
}

@Suite("audit --verify-remote compares the platform's metadata with the manifest")
struct AuditMetadataTests {
    @Test func descriptionTagsAndCategoryThatDriftedAreReported() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        try lib.write("m/a.mp4", bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: CLI.root + "/samples/media/ep1.mp4"))))
        let header = "id,path,title,description,tags,category\n"
        let manifest = try lib.write("drift.csv", header + "d1,m/a.mp4,Drift,As uploaded,a;b,3\n")
        let state = lib.path + "/state"
        let r = try await CLI.run(["ingest", manifest, "--state-dir", state])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let audit = ["audit", manifest, "--report", state + "/report.csv", "--verify-remote", "--state-dir", state]
        let clean = try await CLI.run(audit)
        #expect(clean.status == 0, "what was sent is what the platform holds: \(clean.stdout)\(clean.stderr)")
        // The delivery changes its metadata: the platform still has the old values.
        try lib.write("drift.csv", header + "d1,m/a.mp4,Drift,Changed since,a;c,4\n")
        let drifted = try await CLI.run(audit)
        #expect(drifted.status == 1, "\(drifted.stdout)\(drifted.stderr)")
        #expect(drifted.stdout.contains("audit.remote-metadata-drift"), "\(drifted.stdout)")
        #expect(drifted.stdout.contains("description 'As uploaded', the manifest says 'Changed since'"), "\(drifted.stdout)")
        #expect(drifted.stdout.contains("tags a;b, the manifest says a;c") && drifted.stdout.contains("category 3"), "\(drifted.stdout)")
    }
}
