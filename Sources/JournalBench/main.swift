// Journal benchmark (scripts/bench-journal): per-item journalling overhead with concurrent items
// (group commit, synchronous = FULL), and the start-up of a resume over a large journal.
//   vodingest-journal-bench DIR [ITEMS_IN_JOURNAL] [TIMED_ITEMS] [CONCURRENCY]
import Foundation
import IngestCore
import JournalSQLite

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: vodingest-journal-bench DIR [ITEMS_IN_JOURNAL=1000000] [TIMED_ITEMS=20000] [CONCURRENCY=8]")
    exit(64)
}
let directory = arguments[1]
let total = arguments.count > 2 ? Int(arguments[2])! : 1_000_000
let timed = arguments.count > 3 ? Int(arguments[3])! : 20_000
let concurrency = arguments.count > 4 ? Int(arguments[4])! : 8
let clock = ContinuousClock()
func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

func item(_ i: Int) -> IngestItem {
    IngestItem(
        location: SourceLocation(manifest: "bench.csv", line: i + 2), id: "item-\(i)",
        media: FileReference(
            given: "media/\(i).mp4", resolved: "/library/media/\(i).mp4", size: Int64(1_000_000 + i), modified: 1_700_000_000,
            fileExtension: "mp4"),
        mediaType: "mp4", cover: nil, title: "Item \(i)", description: nil, tags: [], category: nil, procedure: nil, storageRegion: nil,
        expireTime: nil, sourceContext: nil, md5: nil, sha256: nil, meta: [])
}
let manifest = ManifestFingerprint(name: "bench.csv", path: "/library/bench.csv", sha256: nil)
let expires = Int64(Date().timeIntervalSince1970) + 3600
func session(_ i: Int) -> UploadSession {
    UploadSession(
        sessionKey: "session-\(i)", media: ObjectLocation(bucket: "b-1250000000", region: "ap-guangzhou", key: "1500/\(i)/f0.mp4"),
        cover: nil,
        credentials: TemporaryCredentials(secretID: "AKID\(i)", secretKey: "secret", token: "token", expiresAt: expires),
        requestID: "req-\(i)")
}

try? FileManager.default.removeItem(atPath: directory)
let journal = try SQLiteJournal(directory: directory)
try await journal.begin(RunRecord(id: "bench", startedAt: 0, toolVersion: "bench", manifests: [manifest], options: [:]))

// 1. Registration of the journal's rows, 512 a batch (what a run does as manifests stream).
var start = clock.now
var registeredKeys: [Int64] = []
registeredKeys.reserveCapacity(total)
let batchSize = Int(ProcessInfo.processInfo.environment["BATCH"] ?? "512")!
for batchStart in stride(from: 0, to: total, by: batchSize) {
    let items = (batchStart..<min(total, batchStart + batchSize)).map(item)
    let registrations = try await journal.register(
        items, manifest: manifest, runID: "bench", sourceContexts: items.map { "vodingest:bench:\($0.id)" },
        values: items.map { RowValues($0).encoded }, reopenDuplicates: false)
    for registration in registrations { if case .start(let key, _) = registration { registeredKeys.append(key) } }
}
let keys = registeredKeys
let registerSeconds = seconds(clock.now - start)
print(String(format: "register     %9d rows in %6.2f s: %9.0f rows/s", total, registerSeconds, Double(total) / registerSeconds))

// 2. Per-item overhead: the transitions of a simple upload (applied, uploaded, committing,
// committed), items in flight `concurrency` at a time, each waiting for its own durable write.
let before = journal.writeCounts
start = clock.now
try await withThrowingTaskGroup(of: Void.self) { group in
    var next = 0
    func add() {
        let i = next
        next += 1
        let key = keys[i]
        group.addTask {
            try await journal.record(key, from: .pending, .applied(session(i), item: item(i), sourceContext: "vodingest:bench:item-\(i)"))
            try await journal.record(key, from: .applied, .uploaded(md5: "0123456789abcdef0123456789abcdef"))
            try await journal.record(key, from: .uploaded, .committing)
            try await journal.record(
                key, from: .committing,
                .committed(
                    RemoteMedia(
                        fileID: String(5_000_000_000_000_000_000 + UInt64(i)), mediaURL: "https://x/\(i).mp4", coverURL: nil, requestID: "r"
                    ), recovered: false))
        }
    }
    for _ in 0..<min(concurrency, timed) { add() }
    while try await group.next() != nil { if next < timed { add() } }
}
let timedSeconds = seconds(clock.now - start)
let after = journal.writeCounts
let writes = after.writes - before.writes, transactions = after.transactions - before.transactions
print(
    String(
        format: "transitions  %9d items (%d writes, %d transactions, %.1f writes each) in %6.2f s: %7.0f items/s, %6.0f µs per item",
        timed, writes, transactions, Double(writes) / Double(max(1, transactions)), timedSeconds, Double(timed) / timedSeconds,
        timedSeconds / Double(timed) * 1e6))

// 3. The rest committed in bulk (not timed), 8 left in flight, then a resume: open (lock, migrate,
// purge expired secrets), find the items in flight, register the first batch of rows.
for i in timed..<min(total, timed + 8) {
    try await journal.record(keys[i], from: .pending, .applied(session(i), item: item(i), sourceContext: "vodingest:bench:item-\(i)"))
}
try await journal.markCommittedForBenchmark(except: Set(keys[timed..<min(total, timed + 8)]))
journal.close()

start = clock.now
let resumed = try SQLiteJournal(directory: directory)
let opened = clock.now
let points = try await resumed.inFlight()
let found = clock.now
let firstBatch = (0..<512).map(item)
let registrations = try await resumed.register(
    firstBatch, manifest: manifest, runID: "resume", sourceContexts: firstBatch.map { "vodingest:resume:\($0.id)" },
    values: firstBatch.map { RowValues($0).encoded }, reopenDuplicates: false)
let registered = clock.now
let committedAlready = registrations.count { if case .committed = $0 { return true } else { return false } }
print(
    String(
        format:
            "resume over  %9d items: open %.3f s, %d in flight found in %.3f s, first 512 rows registered (%d already committed) in %.3f s; total %.3f s",
        total, seconds(opened - start), points.count, seconds(found - opened), committedAlready, seconds(registered - found),
        seconds(registered - start)))

// 4. The same manifest run again when everything is committed (the nightly no-op rerun): every row
// registered again, each answered "committed" with its FileId.
start = clock.now
var again = 0
for batchStart in stride(from: 0, to: total, by: batchSize) {
    let items = (batchStart..<min(total, batchStart + batchSize)).map(item)
    let registrations = try await resumed.register(
        items, manifest: manifest, runID: "rerun", sourceContexts: items.map { "vodingest:rerun:\($0.id)" },
        values: items.map { RowValues($0).encoded }, reopenDuplicates: false)
    again += registrations.count { if case .committed = $0 { return true } else { return false } }
}
let rerunSeconds = seconds(clock.now - start)
print(
    String(
        format: "rerun        %9d rows (%d already committed) in %6.2f s: %9.0f rows/s", total, again, rerunSeconds,
        Double(total) / rerunSeconds))
resumed.close()
let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/journal.sqlite")[.size] as? NSNumber)?.int64Value ?? 0
print(String(format: "journal file %9.1f MiB (%.0f bytes per item)", Double(size) / 1_048_576, Double(size) / Double(total)))
