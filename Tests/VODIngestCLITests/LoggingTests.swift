import Foundation
import IngestTesting
import Manifests
import Testing

@Suite("logs, colour and help", .serialized)
struct LoggingTests {
    /// `--log-format json` under injected faults: standard error is JSON Lines throughout, every
    /// retry the run counted is one event naming the row (and, for an API call, the attempt and the
    /// platform's request id), and no secret is in it.
    @Test func underFaultsEveryRetryIsAJSONEventNamingTheRow() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let emulator = try StandaloneEmulator(
            dataDirectory: lib.path + "/emu", extra: ["--fault-internal-error", "0.2", "--fault-slow-down", "0.1"])
        var csv = "id,path\n"
        for i in 0..<12 {
            try lib.write("m/l\(i).mp4", bytes: MediaBytes.mp4 + Array(repeating: UInt8(i), count: 100))
            csv += "l\(i),m/l\(i).mp4\n"
        }
        let manifest = try lib.write("l.csv", csv)
        let state = lib.path + "/state"
        let r = try await emulator.ingest([manifest, "--state-dir", state, "--log-format", "json"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let events = try r.stderr.split(separator: "\n").map { try CLI.json(String($0)) }
        #expect(!events.isEmpty)
        #expect(events.allSatisfy { $0["time"] is String && $0["level"] is String && $0["message"] is String && $0["label"] is String })
        let retries = events.filter { ($0["message"] as? String)?.hasSuffix("retrying") == true }
        let summary = try CLI.json(try String(contentsOfFile: state + "/summary.json", encoding: .utf8))
        let counted = try #require((summary["counts"] as? [String: Any])?["retries"] as? Int)
        #expect(counted > 0, "faults were injected")
        #expect(retries.count == counted, "one event per retry")
        for event in retries {
            #expect(event["level"] as? String == "notice")
            #expect((event["item.id"] as? String)?.hasPrefix("l") == true && event["manifest"] as? String == manifest)
            #expect(Int(event["line"] as? String ?? "") ?? 0 >= 2)
            #expect(["retry", "throttled"].contains(event["disposition"] as? String ?? ""))
            #expect((event["vod.request_id"] as? String)?.isEmpty == false, "\(event)")
        }
        let api = retries.filter { $0["action"] != nil }
        #expect(!api.isEmpty && api.allSatisfy { Int($0["attempt"] as? String ?? "") ?? 0 >= 1 })
        // Every item's end at info is below the default level; what a person was told is an event too.
        #expect(!events.contains { $0["message"] as? String == "item done" })
        #expect(events.contains { $0["message"] as? String == "validated" && $0["valid"] as? String == "12" })
        #expect(!r.stderr.contains(emulator.secretKey))

        // The default path: what a person is told (the embedded emulator's address) is an event too.
        let local = try await CLI.run(["ingest", "samples/good.csv", "--state-dir", lib.path + "/local", "--log-format", "json"])
        #expect(local.status == 0, "\(local.stderr)")
        let told = try local.stderr.split(separator: "\n").map { try CLI.json(String($0)) }
        #expect(
            told.contains {
                ($0["message"] as? String)?.hasPrefix("Uploading into the embedded emulator") == true
                    && $0["label"] as? String == "vodingest"
            })
    }

    /// `--log-level`: error hides the retries, debug adds each HTTP exchange (never its query or headers).
    @Test func theLogLevelChoosesWhatIsWritten() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let emulator = try StandaloneEmulator(dataDirectory: lib.path + "/emu", extra: ["--fault-internal-error", "0.3"])
        let quiet = try await emulator.ingest(["samples/good.csv", "--state-dir", lib.path + "/a", "--log-level", "error"])
        #expect(quiet.status == 0, "\(quiet.stderr)")
        #expect(!quiet.stderr.contains("retrying"), "\(quiet.stderr)")
        let loud = try await emulator.ingest(["samples/good.csv", "--state-dir", lib.path + "/b", "--log-level", "debug"])
        #expect(loud.status == 0, "\(loud.stderr)")
        let exchanges = loud.stderr.split(separator: "\n").filter { $0.contains("debug vodingest.http: http exchange") }
        #expect(exchanges.contains { $0.contains("vod.action=ApplyUpload") && $0.contains("http.status=200") })
        #expect(exchanges.contains { $0.contains("http.method=PUT") && $0.contains("storage.request_id=") })
        #expect(loud.stderr.contains("info vodingest.engine: item done"))
        #expect(!loud.stderr.contains("Signature") && !loud.stderr.contains("x-cos-security-token"))
        let refused = try await CLI.run(["validate", "--log-level", "chatty", "samples/good.csv"])
        #expect(refused.status == 64 && refused.stderr.contains("log-level"), "\(refused.stderr)")
    }

    /// Colour on a terminal only, never with NO_COLOR; a pipe gets plain text.
    @Test func colourOnlyOnATerminalAndNeverWithNoColor() async throws {
        func onTerminal(_ environment: [String: String], _ command: String = "validate samples/problems.csv") throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
            process.arguments = ["-qc", "\(CLI.binary) \(command)", "/dev/null"]
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.currentDirectoryURL = URL(fileURLWithPath: CLI.root)
            let out = Pipe()
            process.standardOutput = out
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        let coloured = try onTerminal(["TERM": "xterm", "NO_COLOR": ""])
        #expect(coloured.contains("\u{1B}[31merror\u{1B}[0m"), "\(coloured.prefix(300))")
        let plain = try onTerminal(["TERM": "xterm", "NO_COLOR": "1"])
        #expect(plain.contains("error   ") && !plain.contains("\u{1B}["))
        let piped = try await CLI.run(["validate", "samples/problems.csv"])
        #expect(piped.stdout.contains("error   ") && !piped.stdout.contains("\u{1B}["))
        // On a terminal the progress line is rewritten in place (NO_COLOR asks for no colour, not for
        // no progress), except with TERM=dumb.
        let state = try TemporaryDirectory()
        defer { state.remove() }
        let live = try onTerminal(
            ["TERM": "xterm", "NO_COLOR": "1"], "ingest samples/good.csv --bandwidth 4KiB/s --state-dir \(state.path)/a")
        #expect(live.contains("\r\u{1B}[K") && live.contains("/3 items"), "\(live)")
        let dumb = try onTerminal(["TERM": "dumb"], "ingest samples/good.csv --bandwidth 4KiB/s --state-dir \(state.path)/b")
        #expect(!dumb.contains("\u{1B}") && dumb.contains("3 committed"), "\(dumb)")
        // Not a terminal: no escape sequence on either stream of an ingest (no rewritten progress line).
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let ingest = try await CLI.run(["ingest", "samples/good.csv", "--state-dir", lib.path + "/s"])
        #expect(ingest.status == 0 && !ingest.stdout.contains("\u{1B}") && !ingest.stderr.contains("\u{1B}"), "\(ingest.stderr)")
    }

    /// Every command's help: exit 0, and its discussion written as paragraphs (no line in the middle
    /// of one that the next word would have fitted on, which is what hard-wrapped text re-wrapped at
    /// 80 columns gives).
    @Test func everyCommandsHelpReadsAsParagraphs() async throws {
        for command in [[], ["ingest"], ["events"], ["report"], ["audit"], ["validate"], ["plan"], ["emulator"], ["config", "show"]] {
            let r = try await CLI.run(command + ["--help"])
            #expect(r.status == 0, "\(command): \(r.stdout)\(r.stderr)")
            #expect(r.stdout.hasPrefix("OVERVIEW:"), "\(command)")
            let text = r.stdout.components(separatedBy: "USAGE:")[0]
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for index in lines.indices.dropLast() {
                let line = lines[index], next = lines[index + 1]
                // Inside a paragraph (the next line goes on with it, not an example or a list) a line is filled.
                guard !line.isEmpty, !line.hasPrefix(" "), !next.isEmpty, !next.hasPrefix(" ") else { continue }
                // Ragged: the next line's first word would have fitted on this one.
                let word = next.prefix { $0 != " " }
                #expect(line.count + 1 + word.count >= 80, "\(command): a ragged line: \(line) | \(next)")
            }
        }
    }
}
