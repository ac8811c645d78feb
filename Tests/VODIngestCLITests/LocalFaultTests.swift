import Foundation
import IngestTesting
import Manifests
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@Suite("local faults: a journal that cannot grow, files that change under the upload", .serialized)
struct LocalFaultTests {
    /// The journal cannot grow past 200 KiB (RLIMIT_FSIZE, no root needed): the run stops with exit
    /// 75 and a message naming the journal, the cause and that a resume is safe, writes the report
    /// as far as it goes, and the same command without the limit finishes with every row committed
    /// once. Before, it ended with exit 1 (70 later) and only SQLite's words.
    @Test func aJournalThatCannotGrowStopsInOrderAndResumes() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let emulator = try StandaloneEmulator(dataDirectory: lib.path + "/emu")
        var csv = "id,path\n"
        for i in 0..<700 {
            try lib.write("m/f\(i).mp4", bytes: MediaBytes.mp4 + Array("distinct content \(i)".utf8))
            csv += "f\(i),m/f\(i).mp4\n"
        }
        let manifest = try lib.write("f.csv", csv)
        let state = lib.path + "/state"
        let command =
            "\(CLI.binary) ingest --provider tencent --endpoint \(emulator.url) --cos-endpoint \(emulator.url) \(manifest) --state-dir \(state)"
        let environment = ["TENCENTCLOUD_SECRET_ID": emulator.secretID, "TENCENTCLOUD_SECRET_KEY": emulator.secretKey]
        let limited = try await CLI.run(
            ["/bin/bash", "-c", "ulimit -f 200; exec \(command)"], environment: environment, executable: "/bin/bash")
        #expect(limited.status == 75, "\(limited.stdout)\(limited.stderr)")
        #expect(limited.stderr.contains("cannot write the journal \(state)/journal.sqlite"), "\(limited.stderr)")
        #expect(limited.stderr.contains("200 KiB at most (ulimit -f)") && limited.stderr.contains("run the same command again; it resumes"))
        #expect(limited.stderr.contains("[journal."))
        #expect(FileManager.default.fileExists(atPath: state + "/report.csv") || limited.stderr.contains("vodingest report --state-dir"))

        let again = try await CLI.run(["/bin/bash", "-c", "exec \(command)"], environment: environment, executable: "/bin/bash")
        #expect(again.status == 0, "\(again.stderr)")
        let statuses = Dictionary(grouping: try reportRows(state), by: { $0["status"] ?? "" }).mapValues(\.count)
        let media = try #require(try await emulator.get("/_emulator/media") as? [[String: Any]])
        #expect(media.count == 700, "every row once: \(statuses) \(again.stdout.suffix(400)) \(limited.stdout.suffix(300))")
        #expect(Set(media.compactMap { $0["sourceContext"] as? String }).count == 700)
        #expect(try reportRows(state).filter { $0["status"] == "committed" }.count == 700)
    }

    /// Five files, each in flight at once (paced by --bandwidth, 1 MiB parts), are changed under
    /// the upload in the five ways a machine does it: grown, truncated, deleted, replaced by
    /// another file of the same size and time (`mv` over it), replaced by a folder (the next part's
    /// read fails with EISDIR: before, a failed `pread` trapped the tool). A sixth row's cover is
    /// deleted while its media goes. No row is committed with bytes that are not the validated ones:
    /// each fails with the code and words of what happened, exit 75. The files put back, the same
    /// command commits every row once (the platform's own listing).
    @Test(arguments: ["local", "local-aliyun"])
    func filesChangedWhileTheirPartsAreInFlight(provider: String) async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let names = ["grown", "truncated", "deleted", "replaced", "folder", "covered"]
        func content(_ i: Int) -> [UInt8] {
            MediaBytes.mp4 + (0..<(1_536 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i &* 13) }
        }
        var csv = "id,path,cover\n"
        for (i, name) in names.enumerated() {
            try lib.write("m/\(name).mp4", bytes: content(i))
            csv += "\(name),m/\(name).mp4,\(name == "covered" ? "c/cover.png" : "")\n"
        }
        try lib.write("c/cover.png", bytes: MediaBytes.png)
        let manifest = try lib.write("m.csv", csv)
        let state = lib.path + "/state"
        let arguments = [
            "ingest", "--provider", provider, manifest, "--state-dir", state, "--concurrency", "6", "--part-size", "1MiB",
            "--part-concurrency", "1", "--bandwidth", "512KiB/s",
        ]
        let run = try RunningIngest(arguments + ["--status-addr", "0"])
        let url = try #require(await run.await(#"Live status: (http://127\.0\.0\.1:[0-9]+/)"#), "\(run.stderr)")
        // Every item under way, none near its end (9 MiB to send at 512 KiB/s).
        var metrics = ""
        for _ in 0..<200 {
            metrics = String(decoding: try await URLSession.shared.data(from: URL(string: url + "metrics")!).0, as: UTF8.self)
            if metrics.contains(#"vodingest_items{state="in_flight"} 6.0"#), metrics.contains("vodingest_bytes_sent_total") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(metrics.contains(#"vodingest_items{state="in_flight"} 6.0"#), "\(metrics)")
        let m = lib.path + "/m/"
        let fm = FileManager.default
        let grown = try FileHandle(forWritingTo: URL(fileURLWithPath: m + "grown.mp4"))
        try grown.seekToEnd()
        try grown.write(contentsOf: Data(repeating: 1, count: 1000))
        try grown.close()
        #expect(truncate(m + "truncated.mp4", 600_000) == 0)
        try fm.removeItem(atPath: m + "deleted.mp4")
        let original = try fm.attributesOfItem(atPath: m + "replaced.mp4")[.modificationDate] as? Date
        var other = content(3)
        other[100] ^= 0xFF
        try Data(other).write(to: URL(fileURLWithPath: m + "replaced.new"))
        try fm.setAttributes([.modificationDate: try #require(original)], ofItemAtPath: m + "replaced.new")
        #expect(rename(m + "replaced.new", m + "replaced.mp4") == 0)
        try fm.removeItem(atPath: m + "folder.mp4")
        try fm.createDirectory(atPath: m + "folder.mp4", withIntermediateDirectories: false)
        // A second name keeps the cover's file (and its time) for later.
        #expect(link(lib.path + "/c/cover.png", lib.path + "/cover.kept") == 0)
        try fm.removeItem(atPath: lib.path + "/c/cover.png")

        let end = await run.finish()
        #expect(end.status == 75, "\(end.stdout)\(run.stderr)")
        let rows = Dictionary(uniqueKeysWithValues: try reportRows(state).map { ($0["id"] ?? "", $0) })
        func expect(_ id: String, _ code: String, _ words: String) {
            let row = rows[id] ?? [:]
            #expect(row["status"] == "failed" && row["error_code"] == code, "\(id): \(row)")
            #expect(row["error_message"]?.contains(words) == true, "\(id): \(row["error_message"] ?? "")")
            #expect(row["error_message"]?.contains("nothing was committed for it") == true)
        }
        let size = content(0).count
        expect("grown", "source.modified", "its size was \(size) bytes and is \(size + 1000) now")
        expect("truncated", "source.modified", "is 600000 now")
        expect("deleted", "source.missing", "deleted or moved")
        expect("replaced", "source.modified", "another file took its name")
        expect("folder", "source.modified", "it is a directory now")
        if provider == "local" {
            // Tencent sends the cover after the media, in the same session: it is gone by then.
            expect("covered", "source.missing", "c/cover.png changed")
        } else {
            // Alibaba sends the cover first (CreateUploadImage): it went whole before it was deleted.
            #expect(rows["covered"]?["status"] == "committed", "\(rows["covered"] ?? [:])")
        }

        // Put back, the same command finishes: every row once.
        try fm.removeItem(atPath: m + "folder.mp4")
        for (i, name) in names.enumerated() { try lib.write("m/\(name).mp4", bytes: content(i)) }
        // As it was: on Alibaba the committed row's cover is compared with what was committed.
        #expect(rename(lib.path + "/cover.kept", lib.path + "/c/cover.png") == 0)
        let again = try await CLI.run(["ingest", "--provider", provider, manifest, "--state-dir", state])
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        #expect(try reportRows(state).allSatisfy { $0["status"] == "committed" })
        let emulator = try StandaloneEmulator(dataDirectory: state + "/emulator")
        let media = try #require(try await emulator.get(provider == "local" ? "/_emulator/media" : "/_emulator/videos") as? [[String: Any]])
        let titles = media.compactMap { ($0["name"] ?? $0["title"]) as? String }
        #expect(titles.sorted() == names.sorted(), "every row once, nothing else: \(titles.sorted())")
    }

    /// The state directory removed (`rm -rf`) while a run goes on: the journal is written back from
    /// the open database, the run stops with exit 75 and says so, the report is written there, and
    /// the same command finishes with every row on the platform once.
    @Test func aStateDirectoryRemovedMidRunIsWrittenBackAndTheRunResumes() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let emulator = try StandaloneEmulator(dataDirectory: lib.path + "/emu")
        var csv = "id,path\n"
        for i in 0..<8 {
            try lib.write("m/f\(i).mp4", bytes: MediaBytes.mp4 + (0..<(300 * 1024)).map { UInt8(truncatingIfNeeded: $0 &+ i) })
            csv += "f\(i),m/f\(i).mp4\n"
        }
        let manifest = try lib.write("f.csv", csv)
        let state = lib.path + "/state"
        let arguments = [
            "ingest", "--provider", "tencent", "--endpoint", emulator.url, "--cos-endpoint", emulator.url, manifest, "--state-dir",
            state,
        ]
        let environment = ["TENCENTCLOUD_SECRET_ID": emulator.secretID, "TENCENTCLOUD_SECRET_KEY": emulator.secretKey]
        let run = try BackgroundRun(
            arguments + ["--bandwidth", "300KiB/s", "--concurrency", "1"], environment: environment, directory: lib, name: "run")
        #expect(
            try await eventually {
                try await CLI.run(["report", "--state-dir", state]).stdout.contains(",committed,")
            }, "\(run.output)")
        try FileManager.default.removeItem(atPath: state)
        #expect(await run.wait() == 75, "\(run.output)")
        #expect(run.output.contains("was removed (or moved) while the run went on. The journal was written back"), "\(run.output)")
        #expect(run.output.contains("[journal.removed]") && run.output.contains("The report as far as the journal goes"))
        #expect(
            FileManager.default.fileExists(atPath: state + "/journal.sqlite")
                && FileManager.default.fileExists(atPath: state + "/report.csv"))
        let kept = try reportRows(state).filter { $0["status"] == "committed" }.count
        #expect(kept >= 1 && kept < 8, "the journal written back keeps the rows committed before the removal: \(kept)")

        let again = try await CLI.run(arguments, environment: environment)
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        #expect(again.stdout.contains("\(kept) already committed"), "\(again.stdout)")
        let media = try #require(try await emulator.get("/_emulator/media") as? [[String: Any]])
        #expect(media.count == 8 && Set(media.compactMap { $0["sourceContext"] as? String }).count == 8, "every row once: \(media.count)")
    }

    /// The emulator's data directory "full" (its process may write files of 1 MiB at most): the row
    /// whose object cannot be stored fails with the store's InternalError naming the folder and the
    /// system's reason, the others are committed; with room again, the same command finishes it.
    @Test func anEmulatorWhoseDataDirectoryIsFullSaysWhere() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        try lib.write("m/small.mp4", bytes: MediaBytes.mp4 + Array(repeating: 1, count: 100_000))
        try lib.write("m/large.mp4", bytes: MediaBytes.mp4 + Array(repeating: 2, count: 2 << 20))
        let manifest = try lib.write("f.csv", "id,path\nsmall,m/small.mp4\nlarge,m/large.mp4\n")
        let state = lib.path + "/state"
        let data = lib.path + "/emu"
        var emulator: StandaloneEmulator? = try StandaloneEmulator(dataDirectory: data, fileSizeLimitKiB: 1024)
        func ingest(_ emulator: StandaloneEmulator) async throws -> CLI.Result {
            try await CLI.run(
                [
                    "ingest", "--provider", "tencent", "--endpoint", emulator.url, "--cos-endpoint", emulator.url, manifest, "--state-dir",
                    state,
                ],
                environment: ["TENCENTCLOUD_SECRET_ID": emulator.secretID, "TENCENTCLOUD_SECRET_KEY": emulator.secretKey])
        }
        let full = try await ingest(try #require(emulator))
        #expect(full.status == 75, "\(full.stdout)\(full.stderr)")
        let rows = Dictionary(uniqueKeysWithValues: try reportRows(state).map { ($0["id"] ?? "", $0) })
        #expect(rows["small"]?["status"] == "committed")
        let message = rows["large"]?["error_message"] ?? ""
        #expect(rows["large"]?["status"] == "failed" && rows["large"]?["error_code"] == "InternalError", "\(rows["large"] ?? [:])")
        #expect(message.contains("the emulator cannot write \(data)/incoming/") && message.contains("File too large"), "\(message)")
        #expect(message.contains("its data directory \(data) is full, read-only or gone"), "\(message)")

        emulator = nil  // stopped; the same data with room again
        let roomy = try StandaloneEmulator(dataDirectory: data)
        let again = try await ingest(roomy)
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        let media = try #require(try await roomy.get("/_emulator/media") as? [[String: Any]])
        #expect(media.count == 2, "\(media.count)")
    }

    /// The tool writes nothing to the temporary folder: a TMPDIR that does not exist changes nothing.
    @Test func aTemporaryFolderThatCannotBeUsedDoesNotMatter() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        for provider in ["local", "local-aliyun"] {
            let r = try await CLI.run(
                [
                    "ingest", "--provider", provider, provider == "local" ? "samples/good.csv" : "samples/aliyun.csv", "--state-dir",
                    lib.path + "/" + provider,
                ],
                environment: ["TMPDIR": "/nonexistent/tmp"])
            #expect(r.status == 0, "\(provider): \(r.stdout)\(r.stderr)")
        }
    }

    /// Who runs the tool in the read-only test: root ignores permissions, so as root the tool is run
    /// as `nobody` (setpriv); nil when that cannot work here (the build folder not readable by nobody).
    static let unprivileged: [String]? = {
        guard geteuid() == 0 else { return [] }
        let wrapper = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        guard let r = try? CLI.run(wrapper + [CLI.binary, "--version"], executable: wrapper[0]), r.status == 0 else { return nil }
        return wrapper
    }()

    /// The state directory made read-only (`chmod -R a-w`) while a run goes on: the journal, open
    /// already, keeps every row's outcome; the report cannot be written, which is said with the
    /// reason and how to get it later (exit 70). Writable again, `vodingest report` writes it and
    /// the same command finds every row committed once.
    @Test(.enabled(if: unprivileged != nil, "needs a user other than root (setpriv) that can run the build"))
    func aStateDirectoryMadeReadOnlyMidRunKeepsTheJournalAndSaysHowToGetTheReport() async throws {
        let wrapper = try #require(Self.unprivileged)
        let lib = try TemporaryDirectory()
        defer {
            _ = try? CLI.run(["/bin/chmod", "-R", "u+w", lib.path], executable: "/bin/chmod")
            lib.remove()
        }
        let emulator = try StandaloneEmulator(dataDirectory: lib.path + "/emu")
        var csv = "id,path\n"
        for i in 0..<6 {
            try lib.write("m/f\(i).mp4", bytes: MediaBytes.mp4 + (0..<(200 * 1024)).map { UInt8(truncatingIfNeeded: $0 &+ i) })
            csv += "f\(i),m/f\(i).mp4\n"
        }
        let manifest = try lib.write("f.csv", csv)
        let state = lib.path + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        if !wrapper.isEmpty { #expect(chown(state, 65534, 65534) == 0) }
        let arguments = [
            "ingest", "--provider", "tencent", "--endpoint", emulator.url, "--cos-endpoint", emulator.url, manifest, "--state-dir",
            state,
        ]
        let environment = ["TENCENTCLOUD_SECRET_ID": emulator.secretID, "TENCENTCLOUD_SECRET_KEY": emulator.secretKey]
        let run = try BackgroundRun(
            arguments + ["--bandwidth", "200KiB/s", "--concurrency", "1"], environment: environment, directory: lib, name: "run",
            wrapper: wrapper)
        #expect(
            try await eventually { try await CLI.run(["report", "--state-dir", state]).stdout.contains(",committed,") }, "\(run.output)")
        let chmod = try await CLI.run(["/bin/chmod", "-R", "a-w", state], executable: "/bin/chmod")
        #expect(chmod.status == 0, "\(chmod.stderr)")
        #expect(await run.wait() == 70, "\(run.output)")
        #expect(run.output.contains("cannot write \(state)/report.csv (Permission denied)"), "\(run.output)")
        #expect(run.output.contains("once \(state) can be written, `vodingest report --state-dir \(state)` writes the report"))

        #expect(try await CLI.run(["/bin/chmod", "-R", "u+w", state], executable: "/bin/chmod").status == 0)
        let report = try await CLI.run(["report", "--state-dir", state])
        #expect(report.status == 0 && report.stdout.split(separator: "\n").count { $0.contains(",committed,") } == 6, "\(report.stdout)")
        let again = try await CLI.run(arguments, environment: environment)
        #expect(again.status == 0 && again.stdout.contains("6 already committed"), "\(again.stdout)\(again.stderr)")
        let media = try #require(try await emulator.get("/_emulator/media") as? [[String: Any]])
        #expect(media.count == 6)
    }
}
