import Foundation
import GRDB
import IngestCore
import IngestTesting
import Testing

@testable import JournalSQLite

func testItem(_ id: String, line: Int, size: Int64 = 1000, manifest: String = "m.csv") -> IngestItem {
    IngestItem(
        location: SourceLocation(manifest: manifest, line: line), id: id,
        media: FileReference(given: "\(id).mp4", resolved: "/media/\(id).mp4", size: size, modified: 1, fileExtension: "mp4"),
        mediaType: "mp4", cover: nil, title: "Title \(id)", description: nil, tags: [], category: nil, procedure: nil, storageRegion: nil,
        expireTime: nil, sourceContext: nil, md5: nil, sha256: nil, meta: [])
}

func session(expiresAt: Int64) -> UploadSession {
    UploadSession(
        sessionKey: "key-1", media: ObjectLocation(bucket: "b", region: "r", key: "k/f0.mp4"), cover: nil,
        credentials: TemporaryCredentials(
            secretID: "tmp-id", secretKey: "tmp-secret-value", token: "tmp-token-value", expiresAt: expiresAt),
        requestID: "req-apply")
}

let manifest = ManifestFingerprint(name: "m.csv", path: "/lib/m.csv", sha256: nil)

func register(_ journal: SQLiteJournal, _ items: [IngestItem], reopen: Bool = false) async throws -> [Registration] {
    try await journal.register(
        items, manifest: manifest, runID: "run1", sourceContexts: items.map { "ctx:\($0.id)" },
        values: items.map { RowValues($0).encoded }, reopenDuplicates: reopen)
}

func key(_ registration: Registration) -> Int64? {
    if case .start(let key, _) = registration { return key }
    return nil
}

@Suite("item lifecycle")
struct LifecycleTests {
    @Test func theHappyPathAndItsEnds() {
        let s = session(expiresAt: 0)
        let item = testItem("a", line: 2)
        #expect(ItemLifecycle.next(.pending, .applied(s, item: item, sourceContext: "c")) == .applied)
        #expect(ItemLifecycle.next(.applied, .multipartStarted(uploadID: "u")) == .uploading)
        #expect(ItemLifecycle.next(.uploading, .partConfirmed(number: 1, etag: "e", size: 1)) == .uploading)
        #expect(ItemLifecycle.next(.uploading, .uploaded(md5: nil)) == .uploaded)
        #expect(ItemLifecycle.next(.uploaded, .committing) == .committing)
        #expect(
            ItemLifecycle.next(
                .committing, .committed(RemoteMedia(fileID: "1", mediaURL: nil, coverURL: nil, requestID: ""), recovered: false))
                == .committed)
        #expect(ItemLifecycle.next(.pending, .duplicate(of: "1", md5: "x")) == .skipped)
        for state in [ItemState.applied, .uploading, .uploaded, .committing] {
            #expect(ItemLifecycle.next(state, .sessionAbandoned) == .pending)
            #expect(ItemLifecycle.next(state, .failed(code: "c", message: "m", attempts: 1)) == .failed)
        }
    }

    @Test func nothingLeavesAnEndAndNoStepIsSkipped() {
        let remote = RemoteMedia(fileID: "1", mediaURL: nil, coverURL: nil, requestID: "")
        // A commit is journalled as intended before it is sent: never straight from uploaded.
        #expect(ItemLifecycle.next(.uploaded, .committed(remote, recovered: false)) == nil)
        #expect(ItemLifecycle.next(.pending, .committing) == nil)
        #expect(ItemLifecycle.next(.pending, .uploaded(md5: nil)) == nil)
        for end in [ItemState.committed, .invalid, .skipped, .failed] {
            #expect(ItemLifecycle.next(end, .committing) == nil)
            #expect(ItemLifecycle.next(end, .sessionAbandoned) == nil)
            #expect(ItemLifecycle.next(end, .applied(session(expiresAt: 0), item: testItem("a", line: 2), sourceContext: "")) == nil)
        }
        #expect(ItemLifecycle.next(.committed, .failed(code: "c", message: "m", attempts: 1)) == nil)
    }
}

@Suite("SQLite journal")
struct JournalTests {
    @Test func isOwnerOnlyMigratedAndRefusesASecondWriter() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = try SQLiteJournal(directory: dir.path + "/state")
        let attributes = try FileManager.default.attributesOfItem(atPath: dir.path + "/state/journal.sqlite")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let applied = try await journal.database.read { try SQLiteJournal.migrator.appliedIdentifiers($0) }
        #expect(
            applied == [
                "v1: runs, manifests, items, parts", "v2: the platform's status of a committed media",
                "v3: the CRC-64 of the uploaded media", "v4: the metadata call after the commit", "v5: revisions of committed rows",
                "v6: processing events of committed media", "v7: the files of an HLS package",
            ])
        let error = #expect(throws: IngestError.self) { try SQLiteJournal(directory: dir.path + "/state") }
        #expect(error?.code == "journal.locked")
        #expect(error?.message.contains("pid \(getpid())") == true)
        // A reader is always allowed, mid-run too.
        _ = try await register(journal, [testItem("a", line: 2)])
        let reader = try SQLiteJournal(readingFrom: dir.path + "/state")
        var ids: [String] = []
        try reader.records(manifestPaths: nil) { ids.append($0.id) }
        #expect(ids == ["a"])
        journal.close()
    }

    @Test func registrationSaysWhatToDoWithEachRow() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = try SQLiteJournal(directory: dir.path)
        defer { journal.close() }
        let first = try await register(journal, [testItem("a", line: 2), testItem("b", line: 3, size: 1000)])
        let a = try #require(key(first[0])), b = try #require(key(first[1]))
        // a is committed, b fails.
        let s = session(expiresAt: Int64(Date().timeIntervalSince1970) + 3600)
        try await journal.record(a, from: .pending, .applied(s, item: testItem("a", line: 2), sourceContext: "ctx:a"))
        try await journal.record(a, from: .applied, .uploaded(md5: "aaaa"))
        try await journal.record(a, from: .uploaded, .committing)
        try await journal.record(
            a, from: .committing, .committed(RemoteMedia(fileID: "F1", mediaURL: "u", coverURL: nil, requestID: "r"), recovered: false))
        try await journal.record(b, from: .pending, .failed(code: "x", message: "y", attempts: 3))

        // The same rows again: a is done, b starts over (and may be a duplicate of a: same size).
        let again = try await register(
            journal, [testItem("a", line: 2), testItem("b", line: 3, size: 1000), testItem("c", line: 4, size: 7)])
        guard case .committed(let ka, let remote) = again[0] else { Issue.record("a: \(again[0])"); return }
        #expect(ka == a && remote.fileID == "F1")
        guard case .start(let kb, let duplicates) = again[1] else { Issue.record("b: \(again[1])"); return }
        #expect(kb == b && duplicates == [CommittedContent(fileID: "F1", md5: "aaaa")])
        guard case .start(_, let none) = again[2] else { Issue.record("c: \(again[2])"); return }
        #expect(none.isEmpty)

        try await journal.record(b, from: .pending, .duplicate(of: "F1", md5: "aaaa"))
        let third = try await register(journal, [testItem("b", line: 3)])
        guard case .duplicate(_, let of) = third[0] else { Issue.record("b: \(third[0])"); return }
        #expect(of == "F1")
        // --allow-duplicates reopens it.
        let reopened = try await register(journal, [testItem("b", line: 3)], reopen: true)
        #expect(key(reopened[0]) == b)
    }

    @Test func aRerunOfCommittedRowsWritesNothingButFollowsAnEditedManifest() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = try SQLiteJournal(directory: dir.path)
        defer { journal.close() }
        let first = try await register(journal, [testItem("a", line: 2), testItem("b", line: 3)])
        let a = try #require(key(first[0]))
        let s = session(expiresAt: Int64(Date().timeIntervalSince1970) + 3600)
        try await journal.record(a, from: .pending, .applied(s, item: testItem("a", line: 2), sourceContext: "ctx:a"))
        try await journal.record(a, from: .applied, .uploaded(md5: "aaaa"))
        try await journal.record(a, from: .uploaded, .committing)
        try await journal.record(
            a, from: .committing, .committed(RemoteMedia(fileID: "F1", mediaURL: "u", coverURL: nil, requestID: "r"), recovered: false))
        let reader = try DatabaseQueue(
            path: dir.path + "/journal.sqlite",
            configuration: {
                var c = Configuration(); c.readonly = true; return c
            }())
        func stamps() throws -> [String: Int64] {
            try reader.read { db in
                Dictionary(
                    uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT row_id, updated_at FROM item").map {
                        ($0["row_id"], $0["updated_at"])
                    })
            }
        }
        let before = try stamps()
        try await Task.sleep(for: .milliseconds(5))
        // The same manifest again: a is answered from the journal and its row is not written; b, still
        // pending, is written again (this run's reconciliation token).
        let again = try await register(journal, [testItem("a", line: 2), testItem("b", line: 3)])
        guard case .committed(_, let remote) = again[0] else { Issue.record("a: \(again[0])"); return }
        #expect(remote.fileID == "F1")
        let after = try stamps()
        #expect(after["a"] == before["a"])
        #expect(after["b"]! > before["b"]!)
        // The manifest edited: a now sits on line 7; it stays committed, and the report follows it.
        _ = try await register(journal, [testItem("a", line: 7)])
        var rows: [(String, Int, ItemState, String?)] = []
        try journal.records(manifestPaths: nil) { rows.append(($0.id, $0.line, $0.state, $0.fileID)) }
        let moved = try #require(rows.first { $0.0 == "a" })
        #expect(moved.1 == 7 && moved.2 == .committed && moved.3 == "F1")
    }

    @Test func aTransitionFromTheWrongStateWritesNothing() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = try SQLiteJournal(directory: dir.path)
        defer { journal.close() }
        let k = try #require(key(try await register(journal, [testItem("a", line: 2)])[0]))
        let conflict = await #expect(throws: IngestError.self) { try await journal.record(k, from: .applied, .uploaded(md5: nil)) }
        #expect(conflict?.code == "journal.conflict")
        let refused = await #expect(throws: IngestError.self) { try await journal.record(k, from: .pending, .committing) }
        #expect(refused?.code == "journal.conflict")
        var states: [ItemState] = []
        try journal.records(manifestPaths: nil) { states.append($0.state) }
        #expect(states == [.pending])
    }

    @Test func secretsAreKeptOnlyUntilTheyExpireAndNeverAfterACommit() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let now = Int64(Date().timeIntervalSince1970)
        do {
            let journal = try SQLiteJournal(directory: dir.path)
            let keys = try await register(journal, [testItem("live", line: 2), testItem("old", line: 3), testItem("done", line: 4)])
                .compactMap(key)
            try await journal.record(
                keys[0], from: .pending, .applied(session(expiresAt: now + 3600), item: testItem("live", line: 2), sourceContext: "c0"))
            try await journal.record(keys[0], from: .applied, .multipartStarted(uploadID: "U1"))
            try await journal.record(keys[0], from: .uploading, .partConfirmed(number: 1, etag: "\"e1\"", size: 1 << 20))
            try await journal.record(
                keys[1], from: .pending, .applied(session(expiresAt: now + 2), item: testItem("old", line: 3), sourceContext: "c1"))
            try await journal.record(
                keys[2], from: .pending, .applied(session(expiresAt: now + 3600), item: testItem("done", line: 4), sourceContext: "c2"))
            try await journal.record(keys[2], from: .applied, .uploaded(md5: nil))
            try await journal.record(keys[2], from: .uploaded, .committing)
            try await journal.record(
                keys[2], from: .committing,
                .committed(RemoteMedia(fileID: "F", mediaURL: nil, coverURL: nil, requestID: ""), recovered: false))
            journal.close()
        }
        // Reopened after the short credentials expired.
        let journal = try SQLiteJournal(directory: dir.path, now: now + 10)
        defer { journal.close() }
        let points = try await journal.inFlight()
        #expect(points.map(\.item.id) == ["live", "old"])
        #expect(points[0].session?.credentials.secretKey == "tmp-secret-value")
        #expect(points[0].uploadID == "U1" && points[0].parts == [1: "\"e1\""] && points[0].sourceContext == "c0")
        let secrets = try await journal.database.read { db in
            try String.fetchAll(db, sql: "SELECT row_id FROM item WHERE secret IS NOT NULL ORDER BY row_id")
        }
        #expect(secrets == ["live"])
        // Nothing secret outside the secret column.
        let text = try await journal.database.read { db in
            try String.fetchAll(db, sql: "SELECT COALESCE(session, '') || COALESCE(item_json, '') FROM item").joined()
        }
        #expect(!text.contains("tmp-secret-value") && !text.contains("tmp-token-value"))
    }

    @Test func concurrentWritesShareTransactions() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = try SQLiteJournal(directory: dir.path)
        defer { journal.close() }
        let items = (0..<400).map { testItem("i\($0)", line: $0 + 2) }
        let keys = try await register(journal, items).compactMap(key)
        let before = journal.writeCounts
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, k) in keys.enumerated() {
                group.addTask {
                    try await journal.record(k, from: .pending, .failed(code: "c", message: "m \(index)", attempts: 1))
                }
            }
            try await group.waitForAll()
        }
        let after = journal.writeCounts
        #expect(after.writes - before.writes == 400)
        #expect(after.transactions - before.transactions < 400, "group commit shares transactions")
        var failed = 0
        try journal.records(manifestPaths: nil) { if $0.state == .failed { failed += 1 } }
        #expect(failed == 400)
    }

    @Test func anInvalidRowIsKeyedByItsLineAndGoesWhenTheRowIsFixed() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = try SQLiteJournal(directory: dir.path)
        defer { journal.close() }
        _ = try await register(journal, [testItem("a", line: 2)])
        // A duplicate of a's id on line 3 is invalid; a stays pending.
        try await journal.registerInvalid(
            [InvalidRow(manifest: manifest, line: 3, id: "a", path: "", code: "row.duplicate-id", message: "dup")], runID: "run1")
        var rows: [(Int, ItemState)] = []
        try journal.records(manifestPaths: nil) { rows.append(($0.line, $0.state)) }
        #expect(rows.map(\.0) == [2, 3] && rows.map(\.1) == [.pending, .invalid])
        // Line 3 fixed (a new id): its invalid record is replaced.
        _ = try await register(journal, [testItem("b", line: 3)])
        rows = []
        try journal.records(manifestPaths: ["/lib/m.csv"]) { rows.append(($0.line, $0.state)) }
        #expect(rows.map(\.0) == [2, 3] && rows.map(\.1) == [.pending, .pending])
    }
}
