import Foundation
import IngestTesting
import Manifests
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `vodingest emulator` as a separate process, on a free port.
final class StandaloneEmulator {
    let process = Process()
    let url: String
    let secretID: String
    let secretKey: String
    let aliyunAccessKeyID: String
    let aliyunAccessKeySecret: String

    /// - Parameter fileSizeLimitKiB: `ulimit -f` for the emulator (its data directory "full").
    init(dataDirectory: String, extra: [String] = [], fileSizeLimitKiB: Int? = nil) throws {
        let arguments = ["emulator", "--port", "0", "--data-dir", dataDirectory] + extra
        if let limit = fileSizeLimitKiB {
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", "ulimit -f \(limit); exec \"$0\" \"$@\"", CLI.binary] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: CLI.binary)
            process.arguments = arguments
        }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The banner is printed once the listener is bound: read it (blocking, no sleeps).
        var text = ""
        while !text.contains("--provider aliyun") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        func value(after marker: String) -> String {
            guard let range = text.range(of: marker) else { return "" }
            return String(text[range.upperBound...].prefix { !$0.isWhitespace && $0 != ")" })
        }
        url = value(after: "listening on ")
        secretID = value(after: "TENCENTCLOUD_SECRET_ID=")
        secretKey = value(after: "TENCENTCLOUD_SECRET_KEY=")
        aliyunAccessKeyID = value(after: "ALIBABA_CLOUD_ACCESS_KEY_ID=")
        aliyunAccessKeySecret = value(after: "ALIBABA_CLOUD_ACCESS_KEY_SECRET=")
    }

    var aliyunEnvironment: [String: String] {
        ["ALIBABA_CLOUD_ACCESS_KEY_ID": aliyunAccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": aliyunAccessKeySecret]
    }

    /// `vodingest ingest --provider aliyun` against this emulator.
    func ingestAliyun(_ arguments: [String], cwd: String = CLI.root) async throws -> CLI.Result {
        try await CLI.run(["ingest", "--provider", "aliyun", "--endpoint", url] + arguments, cwd: cwd, environment: aliyunEnvironment)
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
    }

    func get(_ path: String) async throws -> Any {
        let (data, _) = try await URLSession.shared.data(from: URL(string: url + path)!)
        return try JSONSerialization.jsonObject(with: data)
    }

    /// `vodingest ingest --provider tencent` against this emulator.
    func ingest(_ arguments: [String], secretKey: String? = nil, cwd: String = CLI.root) async throws -> CLI.Result {
        try await CLI.run(
            ["ingest", "--provider", "tencent", "--endpoint", url, "--cos-endpoint", url] + arguments, cwd: cwd,
            environment: ["TENCENTCLOUD_SECRET_ID": secretID, "TENCENTCLOUD_SECRET_KEY": secretKey ?? self.secretKey])
    }
}

/// Reads `report.csv` as dictionaries (RFC 4180 quoting; the fields hold no newlines in these tests).
func reportRows(_ directory: String) throws -> [[String: String]] {
    let text = try String(contentsOfFile: directory + "/report.csv", encoding: .utf8)
    func cells(_ line: Substring) -> [String] {
        var cells: [String] = []
        var cell = ""
        var quoted = false
        var chars = line.makeIterator()
        while let c = chars.next() {
            if quoted {
                if c == "\"" {
                    // A doubled quote is a quote; a single one ends the quoted part.
                    var lookahead = chars
                    if lookahead.next() == "\"" {
                        cell.append("\"")
                        chars = lookahead
                    } else {
                        quoted = false
                    }
                } else {
                    cell.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                cells.append(cell)
                cell = ""
            } else {
                cell.append(c)
            }
        }
        cells.append(cell)
        return cells
    }
    var lines = text.split(separator: "\n")
    let header = cells(lines.removeFirst())
    return lines.map { line in
        let fields = cells(line)
        return Dictionary(uniqueKeysWithValues: zip(header, fields + Array(repeating: "", count: max(0, header.count - fields.count))))
    }
}

@Suite("ingest end to end", .serialized)
struct IngestTests {
    @Test func samplesGoIntoTheEmbeddedEmulator() async throws {
        let state = try TemporaryDirectory()
        defer { state.remove() }
        let r = try await CLI.run(["ingest", "samples/good.csv", "samples/good.xml", "--state-dir", state.path])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("embedded emulator at http://127.0.0.1:"))
        let rows = try reportRows(state.path)
        #expect(rows.count == 6)
        #expect(rows.allSatisfy { $0["status"] == "committed" && ($0["file_id"] ?? "").count >= 16 })
        // CommitUpload says no status: the column is there, empty.
        #expect(rows.allSatisfy { $0["platform_status"] == "" })
        #expect(Set(rows.map { $0["file_id"]! }).count == 6)
        #expect(rows.filter { !($0["cover_url"] ?? "").isEmpty }.count == 3)
        #expect(r.stdout.components(separatedBy: "FileId ").count - 1 == 6)
        let summary = try CLI.json(String(contentsOfFile: state.path + "/summary.json", encoding: .utf8))
        let counts = try #require(summary["counts"] as? [String: Any])
        #expect(counts["committed"] as? Int == 6)
        // ApplyUpload and CommitUpload for each, and ModifyMediaInfo for the 5 rows with a description or tags.
        #expect(counts["apiCalls"] as? Int == 17)
        #expect((counts["apiCallsByAction"] as? [String: Int])?["ModifyMediaInfo"] == 5)
        #expect(rows.allSatisfy { $0["metadata_error"] == "" })
    }

    /// Faults on (InternalError, SlowDown, Complete errors, connections reset mid-body): every item
    /// committed exactly once, with its cover and the right bytes.
    @Test func everyItemOnceUnderFaults() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let emulator = try StandaloneEmulator(
            dataDirectory: lib.path + "/emu",
            extra: ["--fault-internal-error", "0.1", "--fault-slow-down", "0.05", "--fault-complete", "0.2", "--fault-reset", "0.05"])
        var csv = "id,path,cover,title\n"
        var expected: [String: (size: Int, md5: String, cover: Bool)] = [:]
        for i in 0..<24 {
            // Three multipart files (3 parts of 1 MiB and a tail), the rest small; every third has a cover.
            let size = i < 3 ? 3 * (1 << 20) + 777 * (i + 1) : 2000 + 97 * i
            var bytes = MediaBytes.mp4
            var generator = SystemRandomNumberGenerator()
            bytes += (0..<(size - bytes.count)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            try lib.write("m/v\(i).mp4", bytes: bytes)
            let cover = i % 3 == 0
            if cover { try lib.write("c/v\(i).jpg", bytes: MediaBytes.jpeg) }
            csv += "item-\(i),m/v\(i).mp4,\(cover ? "c/v\(i).jpg" : ""),Video \(i)\n"
            expected["Video \(i)"] = (size, md5Hex(bytes), cover)
        }
        let manifest = try lib.write("library.csv", csv)
        let r = try await emulator.ingest([manifest, "--state-dir", lib.path + "/state", "--part-size", "1MiB", "--concurrency", "6"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let media = try #require(try await emulator.get("/_emulator/media") as? [[String: Any]])
        #expect(media.count == 24)
        for name in expected.keys {
            let entries = media.filter { $0["name"] as? String == name }
            #expect(entries.count == 1, "\(name) committed \(entries.count) times")
            guard let entry = entries.first, let want = expected[name] else { continue }
            #expect(entry["size"] as? Int == want.size)
            #expect(entry["md5"] as? String == want.md5)
            #expect((entry["coverPath"] != nil) == want.cover, "\(name) cover")
        }
        let rows = try reportRows(lib.path + "/state")
        let listed = Set(media.compactMap { $0["fileID"] as? String })
        #expect(rows.count == 24)
        #expect(Set(rows.compactMap { $0["file_id"] }) == listed)
        let counters = try #require(try await emulator.get("/_emulator/counters") as? [String: Any])
        let errors =
            (counters["apiErrors"] as? [String: Int] ?? [:]).values.reduce(0, +)
            + (counters["cosErrors"] as? [String: Int] ?? [:]).values.reduce(0, +)
        #expect(errors > 0, "faults were injected and retried")
        // Every injected API error and storage SlowDown was retried and the run counted it, the
        // storage retries (made inside the provider) included.
        let summary = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: lib.path + "/state/summary.json")))
                as? [String: Any])
        let counts = try #require(summary["counts"] as? [String: Any])
        let apiErrors = (counters["apiErrors"] as? [String: Int] ?? [:]).values.reduce(0, +)
        let slowDowns = (counters["cosErrors"] as? [String: Int] ?? [:])["SlowDown", default: 0]
        let retries = try #require(counts["retries"] as? Int), throttles = try #require(counts["throttles"] as? Int)
        #expect(retries >= apiErrors + slowDowns, "retries \(retries), API errors \(apiErrors), SlowDown \(slowDowns)")
        #expect(throttles >= slowDowns)
    }

    @Test func aWrongSecretIsRefusedAndStopsTheRun() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let emulator = try StandaloneEmulator(dataDirectory: lib.path + "/emu")
        let r = try await emulator.ingest(
            ["samples/good.csv", "--state-dir", lib.path + "/state", "--concurrency", "1"], secretKey: "not-the-secret")
        #expect(r.status == 75, "\(r.stdout)\(r.stderr)")
        let rows = try reportRows(lib.path + "/state")
        #expect(rows.first?["error_code"] == "AuthFailure.SignatureFailure")
        #expect(rows.allSatisfy { $0["status"] != "committed" })
        #expect(!r.stdout.contains("not-the-secret") && !r.stderr.contains("not-the-secret"))
    }

    @Test func invalidRowsAreReportedAndValidOnesAreCommitted() async throws {
        let state = try TemporaryDirectory()
        defer { state.remove() }
        let r = try await CLI.run(["ingest", "samples/problems.csv", "--state-dir", state.path])
        // One valid row claims an MD5 its file does not have: it fails (75) instead of being committed.
        #expect(r.status == 75, "\(r.stdout)\(r.stderr)")
        let rows = try reportRows(state.path)
        // The same verdicts as `validate` (without --checksums, as ingest ran).
        let verdict = try await CLI.json(CLI.run(["validate", "--format", "json", "samples/problems.csv"]).stdout)
        let valid = try #require(verdict["valid"] as? Int)
        #expect(valid >= 1)
        #expect(rows.count == 20)
        let failed = rows.filter { $0["status"] == "failed" }
        #expect(failed.map { $0["error_code"] } == ["source.checksum-mismatch"])
        #expect(rows.filter { $0["status"] == "committed" }.count == valid - 1)
        #expect(rows.filter { $0["status"] == "invalid" }.count == 20 - valid)
    }

    /// Credentials that expire at once: each item gets fresh sessions (ApplyUpload again), then fails
    /// with `credentials.expired`; no request is sent with credentials known to be expired, and
    /// nothing is committed.
    @Test func expiredCredentialsRenewTheSessionThenFail() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let emulator = try StandaloneEmulator(dataDirectory: lib.path + "/emu", extra: ["--credential-lifetime", "0"])
        let r = try await emulator.ingest(["samples/good.csv", "--state-dir", lib.path + "/state"])
        #expect(r.status == 75, "\(r.stdout)\(r.stderr)")
        let rows = try reportRows(lib.path + "/state")
        #expect(rows.count == 3)
        #expect(rows.allSatisfy { $0["status"] == "failed" && $0["error_code"] == "credentials.expired" }, "\(rows)")
        // Every renewal is logged at notice: two new sessions and the last that gives up, per item.
        let renewals = r.stderr.split(separator: "\n").filter { $0.contains("vodingest.engine: upload session expired") }
        #expect(renewals.count == 9, "\(r.stderr)")
        #expect(renewals.filter { $0.contains("no session is left") }.count == 3)
        let counters = try #require(try await emulator.get("/_emulator/counters") as? [String: Any])
        #expect((counters["cosRequests"] as? [String: Int])?["PutObject"] == nil)
        #expect((counters["apiCalls"] as? [String: Int])?["ApplyUpload"] == 9, "three sessions per item")
        #expect(counters["commits"] as? Int == 0)
    }

    /// Nothing listening: items fail with the connection error, and the run stops once the first few
    /// all fail and none was committed, instead of trying every row.
    @Test func anUnreachableEndpointStopsTheRun() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        var csv = "id,path\n"
        for i in 0..<20 {
            try lib.write("m/\(i).mp4", bytes: MediaBytes.mp4 + [UInt8(i)])
            csv += "u\(i),m/\(i).mp4\n"
        }
        let manifest = try lib.write("u.csv", csv)
        let r = try await CLI.run(
            [
                "ingest", manifest, "--provider", "tencent", "--endpoint", "http://127.0.0.1:1", "--cos-endpoint", "http://127.0.0.1:1",
                "--state-dir", lib.path + "/state", "--concurrency", "2",
            ],
            environment: ["TENCENTCLOUD_SECRET_ID": "AKIDnotused", "TENCENTCLOUD_SECRET_KEY": "not-used"])
        #expect(r.status == 75, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("the platform cannot be reached"))
        let rows = try reportRows(lib.path + "/state")
        #expect(rows.count == 20)
        #expect(rows.filter { $0["status"] == "failed" }.allSatisfy { $0["error_code"] == "network.connection" })
        #expect(rows.filter { $0["status"] == "pending" }.count >= 15, "the run stopped early; the rest stay pending")
    }

    /// `--bandwidth` caps the run: 6 MiB at 2 MiB/s cannot finish in under 2 s (one second's worth
    /// may go at once, the other 4 MiB take 2 s). Only a lower bound: a slow machine is never a failure.
    @Test func theBandwidthCapHolds() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        var generator = SystemRandomNumberGenerator()
        var csv = "id,path\n"
        for i in 0..<3 {
            try lib.write("m/\(i).mp4", bytes: MediaBytes.mp4 + (0..<(2 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            csv += "b\(i),m/\(i).mp4\n"
        }
        let manifest = try lib.write("b.csv", csv)
        let r = try await CLI.run(["ingest", manifest, "--state-dir", lib.path + "/state", "--bandwidth", "2MiB/s", "--part-size", "1MiB"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let summary = try CLI.json(String(contentsOfFile: lib.path + "/state/summary.json", encoding: .utf8))
        let seconds = try #require(summary["durationSeconds"] as? Double)
        #expect(seconds >= 1.9, "6 MiB went in \(seconds) s under a 2 MiB/s cap")
        #expect(try await CLI.run(["ingest", manifest, "--bandwidth", "fast"]).status == 64)
    }

    @Test func anUnusableEmulatorDataDirIsAUsageErrorThatSaysWhy() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let file = try lib.write("not-a-folder", "x")
        let r = try await CLI.run(["emulator", "--port", "0", "--data-dir", file + "/emu"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("cannot create the folder \(file)"))
        #expect(r.stderr.contains("Not a directory"))
    }

    @Test func anUnusableStateDirIsAUsageErrorThatSaysWhy() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let file = try lib.write("not-a-folder", "x")
        let r = try await CLI.run(["ingest", "samples/good.csv", "--state-dir", file + "/state"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("cannot create the state folder \(file)"))
        #expect(r.stderr.contains("Not a directory"))
    }
}

func md5Hex(_ bytes: [UInt8]) -> String {
    let dir = try! TemporaryDirectory()
    defer { dir.remove() }
    let path = try! dir.write("f", bytes: bytes)
    return try! FileDigest.compute(path: path, md5: true, sha256: false).get().md5!
}

@Suite("API budgets per action on the command line")
struct ActionRateTests {
    /// A platform that allows 2 requests a second per action (counted per calendar second): with
    /// budgets under it (`--action-rate '*=1.5'`: a smooth 2/s can still put 3 calls in one
    /// calendar second when a loaded machine delays one, as a CI run saw) it never throttles; with the documented 100/s it does, and the run
    /// still commits everything (AIMD on that action, retries).
    @Test func budgetsThatMatchThePlatformAreNeverThrottled() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let emulator = try StandaloneEmulator(dataDirectory: lib.path + "/emu", extra: ["--rate-limit", "2"])
        func manifest(_ name: String) throws -> String {
            var csv = "id,path\n"
            for i in 0..<4 {
                try lib.write("\(name)/v\(i).mp4", bytes: MediaBytes.mp4 + Array("\(name) \(i)".utf8))
                csv += "\(name)-\(i),\(name)/v\(i).mp4\n"
            }
            return try lib.write("\(name).csv", csv)
        }
        func throttled() async throws -> Int {
            let counters = try #require(try await emulator.get("/_emulator/counters") as? [String: Any])
            return (counters["apiErrors"] as? [String: Int])?["RequestLimitExceeded"] ?? 0
        }
        let matched = try await emulator.ingest([try manifest("matched"), "--state-dir", lib.path + "/s1", "--action-rate", "*=1.5"])
        #expect(matched.status == 0, "\(matched.stdout)\(matched.stderr)")
        #expect(try await throttled() == 0)
        let documented = try await emulator.ingest([try manifest("documented"), "--state-dir", lib.path + "/s2"])
        #expect(documented.status == 0, "\(documented.stdout)\(documented.stderr)")
        #expect(try await throttled() > 0)
        #expect(try reportRows(lib.path + "/s2").allSatisfy { $0["status"] == "committed" })
    }

    @Test func anActionThePlatformDoesNotHaveIsRefused() async throws {
        let r = try await CLI.run(["ingest", "--action-rate", "CreateUploadVideo=5", "samples/good.csv"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("makes no 'CreateUploadVideo' call") && r.stderr.contains("ApplyUpload"), "\(r.stderr)")
        // An action of the platform that an ingest never calls would be accepted and do nothing: refused.
        let unused = try await CLI.run(["ingest", "--action-rate", "DescribeMediaInfos=5", "samples/good.csv"])
        #expect(unused.status == 64 && unused.stderr.contains("makes no 'DescribeMediaInfos' call"), "\(unused.stderr)")
        let malformed = try await CLI.run(["ingest", "--action-rate", "ApplyUpload", "samples/good.csv"])
        #expect(malformed.status == 64 && malformed.stderr.contains("ACTION=RATE"), "\(malformed.stderr)")
    }
}

@Suite("every field of a Tencent row reaches the platform: ApplyUpload's, then ModifyMediaInfo's")
struct ApplyUploadFieldTests {
    static let csv =
        "id,path,title,category,procedure,storage_region,expire_time,source_context,meta.batch,meta.note,description,tags\n"
        + #"full,m/a.mp4,Full row,42,QuickTranscode,ap-chongqing,2031-05-06T07:08:09Z,partner:full,b-7,"a/b, ""quoted""","#
        + #"Said after the commit,drama;2024"#
        + "\n"

    /// What the emulator's catalogue holds of the row, as the platform would.
    func check(_ media: [[String: Any]]) throws {
        #expect(media.count == 1)
        let m = try #require(media.first)
        #expect(m["name"] as? String == "Full row")
        #expect(m["classID"] as? Int == 42)
        #expect(m["procedure"] as? String == "QuickTranscode")
        #expect(m["storageRegion"] as? String == "ap-chongqing")
        #expect(m["expireTime"] as? String == "2031-05-06T07:08:09Z")
        #expect(m["sourceContext"] as? String == "partner:full")
        // meta.* as SessionContext: sorted names, the value's slash and quotes as JSON has them.
        #expect(m["sessionContext"] as? String == #"{"batch":"b-7","note":"a/b, \"quoted\""}"#)
        // ApplyUpload has no Description or Tags: ModifyMediaInfo after CommitUpload sets them.
        #expect(m["description"] as? String == "Said after the commit")
        #expect(m["tags"] as? [String] == ["drama", "2024"])
    }

    @Test func standalone() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        try lib.write("m/a.mp4", bytes: MediaBytes.mp4 + Array("full".utf8))
        let manifest = try lib.write("fields.csv", Self.csv)
        let emulator = try StandaloneEmulator(dataDirectory: lib.path + "/emu")
        let r = try await emulator.ingest([manifest, "--state-dir", lib.path + "/state"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        try check(try #require(try await emulator.get("/_emulator/media") as? [[String: Any]]))
    }

    /// The default path: the embedded emulator's catalogue, read back by a standalone one on its data.
    @Test func embedded() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        try lib.write("m/a.mp4", bytes: MediaBytes.mp4 + Array("full".utf8))
        let manifest = try lib.write("fields.csv", Self.csv)
        let r = try await CLI.run(["ingest", manifest, "--state-dir", lib.path + "/state"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let reader = try StandaloneEmulator(dataDirectory: lib.path + "/state/emulator")
        try check(try #require(try await reader.get("/_emulator/media") as? [[String: Any]]))
    }
}
