import Foundation
import GRDB
import IngestCore
import Synchronization

#if canImport(Glibc)
    import Glibc
    private func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { Glibc.open(path, flags, mode) }
    @discardableResult private func posixClose(_ fd: Int32) -> Int32 { Glibc.close(fd) }
#elseif canImport(Darwin)
    import Darwin
    private func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { Darwin.open(path, flags, mode) }
    @discardableResult private func posixClose(_ fd: Int32) -> Int32 { Darwin.close(fd) }
#endif

/// The journal of one state directory: `journal.sqlite` (WAL, `synchronous = FULL`, owner-only),
/// migrated on open with named migrations, and `journal.lock`, held (flock) by the one process that
/// writes it. A second writer is refused with a message naming the holder; readers (`vodingest
/// report`) open it read-only at any time, mid-run too.
///
/// Secrets: the temporary credentials of an applied session are kept (in this owner-only file) only
/// until they expire, and are erased when the item is committed, or on open once past their expiry.
public final class SQLiteJournal: JournalStore {
    /// File names inside the state directory.
    public static let databaseName = "journal.sqlite"
    public static let lockName = "journal.lock"

    let database: DatabaseQueue
    let writer: GroupCommitWriter?
    private let lockDescriptor: Mutex<Int32>
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Opens (creating and migrating) the journal of `directory` for writing.
    /// - Throws: ``IngestError`` `journal.locked` when another process holds it, `journal.unusable`
    ///   when the folder or database cannot be used.
    public init(directory: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws {
        if let failure = Folder.create(directory) {
            throw IngestError(
                code: "journal.unusable",
                message: "cannot create the state folder \(failure.folder) (\(failure.reason)); choose another --state-dir",
                subject: directory)
        }
        let lockPath = directory + "/" + Self.lockName
        let fd = posixOpen(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw IngestError(
                code: "journal.unusable",
                message: "cannot open \(lockPath) (\(String(cString: strerror(errno)))); check the --state-dir permissions",
                subject: directory)
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = pread(fd, &buffer, 63, 0)
            posixClose(fd)
            let holder = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            throw IngestError(
                code: "journal.locked",
                message: "another vodingest (pid \(holder)) is using the state directory \(directory); wait for it to finish or stop it, "
                    + "or use another --state-dir (reading with `vodingest report` is always allowed)",
                subject: directory)
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        lockDescriptor = Mutex(fd)
        do {
            database = try Self.openDatabase(path: directory + "/" + Self.databaseName, readOnly: false)
            try Self.migrator.migrate(database)
            try database.write { db in
                try db.execute(sql: "UPDATE item SET secret = NULL WHERE secret IS NOT NULL AND secret_expires < ?", arguments: [now])
            }
        } catch let error as IngestError {
            posixClose(fd)
            throw error
        } catch {
            posixClose(fd)
            // The disk refused the write (full, read-only, a size limit): said as such, and a later run can open it.
            if let refused = JournalFailure.map(error, path: directory + "/" + Self.databaseName) as? IngestError { throw refused }
            throw IngestError(
                code: "journal.unusable",
                message: "cannot open the journal in \(directory): \(error); move it aside or use another --state-dir",
                subject: directory)
        }
        writer = GroupCommitWriter(database: database, path: directory + "/" + Self.databaseName)
    }

    /// Opens the journal of `directory` read-only (no lock): for reports while a run goes on.
    public init(readingFrom directory: String) throws {
        let path = directory + "/" + Self.databaseName
        guard FileManager.default.fileExists(atPath: path) else {
            throw IngestError(
                code: "journal.missing", message: "\(directory) has no journal (\(Self.databaseName)); give the --state-dir of an ingest",
                subject: directory)
        }
        do {
            database = try Self.openDatabase(path: path, readOnly: true)
            let applied = try database.read { try Self.migrator.appliedIdentifiers($0) }
            let known = Set(Self.migrator.migrations)
            if let unknown = applied.first(where: { !known.contains($0) }) {
                throw IngestError(
                    code: "journal.newer",
                    message: "the journal in \(directory) was written by a newer vodingest (migration '\(unknown)'); use that version",
                    subject: directory)
            }
        } catch let error as IngestError {
            throw error
        } catch {
            throw IngestError(code: "journal.unusable", message: "cannot read the journal in \(directory): \(error)", subject: directory)
        }
        writer = nil
        lockDescriptor = Mutex(-1)
    }

    deinit { close() }

    /// Waits for queued writes and releases the lock (another process may then open the journal).
    public func close() {
        writer?.close()
        lockDescriptor.withLock { fd in
            if fd >= 0 { posixClose(fd) }
            fd = -1
        }
    }

    /// Group-commit counters: (transactions, writes).
    public var writeCounts: (transactions: Int, writes: Int) { writer?.counts ?? (0, 0) }

    static func openDatabase(path: String, readOnly: Bool) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = readOnly
        configuration.busyMode = .timeout(10)
        configuration.label = "journal"
        if !readOnly {
            // SQLite gives the -wal and -shm files the database file's permissions.
            if !FileManager.default.fileExists(atPath: path) {
                let fd = posixOpen(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
                if fd >= 0 { posixClose(fd) }
            }
            chmod(path, 0o600)
            configuration.prepareDatabase { db in
                // Durable at each commit, a power cut included; group commit shares the fsync.
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
        }
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        if !readOnly {
            try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        }
        return queue
    }

    /// Named migrations, in SQL; a shipped one is never edited (architecture §4.9).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: runs, manifests, items, parts") { db in
            try db.execute(
                sql: """
                    CREATE TABLE run (
                        id TEXT PRIMARY KEY,
                        started_at INTEGER NOT NULL,
                        finished_at INTEGER,
                        tool_version TEXT NOT NULL,
                        options TEXT NOT NULL,
                        status TEXT NOT NULL,
                        summary TEXT
                    );
                    CREATE TABLE run_manifest (
                        run_id TEXT NOT NULL REFERENCES run(id),
                        position INTEGER NOT NULL,
                        name TEXT NOT NULL,
                        path TEXT NOT NULL,
                        sha256 TEXT,
                        PRIMARY KEY (run_id, position)
                    );
                    CREATE TABLE item (
                        id INTEGER PRIMARY KEY,
                        manifest TEXT NOT NULL,
                        manifest_path TEXT NOT NULL,
                        row_id TEXT NOT NULL,
                        line INTEGER NOT NULL,
                        path TEXT NOT NULL,
                        title TEXT,
                        size INTEGER,
                        md5 TEXT,
                        state TEXT NOT NULL,
                        run_id TEXT NOT NULL,
                        source_context TEXT,
                        item_json TEXT,
                        session TEXT,
                        secret TEXT,
                        secret_expires INTEGER,
                        applied_at INTEGER,
                        apply_request_id TEXT,
                        upload_id TEXT,
                        file_id TEXT,
                        media_url TEXT,
                        cover_url TEXT,
                        commit_request_id TEXT,
                        recovered INTEGER NOT NULL DEFAULT 0,
                        duplicate_of TEXT,
                        error_code TEXT,
                        error_message TEXT,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL,
                        committed_at INTEGER,
                        UNIQUE (manifest_path, row_id)
                    );
                    CREATE INDEX item_in_flight ON item(state) WHERE state IN ('applied', 'uploading', 'uploaded', 'committing');
                    CREATE INDEX item_committed_size ON item(size) WHERE state = 'committed';
                    CREATE INDEX item_by_line ON item(manifest, line);
                    CREATE TABLE part (
                        item_id INTEGER NOT NULL REFERENCES item(id) ON DELETE CASCADE,
                        number INTEGER NOT NULL,
                        etag TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        PRIMARY KEY (item_id, number)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2: the platform's status of a committed media") { db in
            try db.execute(sql: "ALTER TABLE item ADD COLUMN platform_status TEXT")
        }
        // The store-checked CRC-64 of what was uploaded: a multipart file has no whole-file MD5
        // unless one was asked for, since computing it would mean reading the file a second time.
        migrator.registerMigration("v3: the CRC-64 of the uploaded media") { db in
            try db.execute(sql: "ALTER TABLE item ADD COLUMN crc64 TEXT")
        }
        // A committed media whose metadata call (Tencent ModifyMediaInfo) is still to be made: it
        // stays in the resume set (with its item) until the call is made.
        migrator.registerMigration("v4: the metadata call after the commit") { db in
            try db.execute(sql: "ALTER TABLE item ADD COLUMN metadata_pending INTEGER NOT NULL DEFAULT 0")
            try db.execute(sql: "ALTER TABLE item ADD COLUMN metadata_error TEXT")
        }
        // The nightly delta: what of each row was committed (its values and its file's modification
        // time), so a new delivery of the row is compared with it; what a delivery changed; the
        // media a replacement replaces, and its deletion still to be made.
        migrator.registerMigration("v5: revisions of committed rows") { db in
            try db.execute(
                sql: """
                    ALTER TABLE item ADD COLUMN row_values TEXT;
                    ALTER TABLE item ADD COLUMN mtime REAL;
                    ALTER TABLE item ADD COLUMN metadata_update TEXT;
                    ALTER TABLE item ADD COLUMN change TEXT;
                    ALTER TABLE item ADD COLUMN change_detail TEXT;
                    ALTER TABLE item ADD COLUMN changed_at INTEGER;
                    ALTER TABLE item ADD COLUMN replaced_file_id TEXT;
                    ALTER TABLE item ADD COLUMN delete_pending INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE item ADD COLUMN replaced_deleted INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE item ADD COLUMN delete_error TEXT;
                    CREATE INDEX item_follow_up ON item(id) WHERE state = 'committed' AND (metadata_pending = 1 OR delete_pending = 1);
                    """)
        }
        // What the platform's events (Tencent PullEvents) or polls (Alibaba GetVideoInfos) said of a
        // committed media after its upload, and whether nothing more is awaited.
        migrator.registerMigration("v6: processing events of committed media") { db in
            try db.execute(
                sql: """
                    ALTER TABLE item ADD COLUMN upload_event_at INTEGER;
                    ALTER TABLE item ADD COLUMN procedure_task_id TEXT;
                    ALTER TABLE item ADD COLUMN procedure_status TEXT;
                    ALTER TABLE item ADD COLUMN procedure_status_at INTEGER;
                    ALTER TABLE item ADD COLUMN events_done INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE item ADD COLUMN processing_failed INTEGER NOT NULL DEFAULT 0;
                    CREATE INDEX item_by_file_id ON item(file_id) WHERE file_id IS NOT NULL;
                    CREATE INDEX item_by_replaced ON item(replaced_file_id) WHERE replaced_file_id IS NOT NULL;
                    CREATE INDEX item_awaiting_events ON item(id) WHERE state = 'committed' AND events_done = 0;
                    """)
        }
        // The files of an HLS package the store confirmed, so a resumed package sends only the rest.
        migrator.registerMigration("v7: the files of an HLS package") { db in
            try db.execute(
                sql: """
                    CREATE TABLE segment (
                        item_id INTEGER NOT NULL REFERENCES item(id) ON DELETE CASCADE,
                        number INTEGER NOT NULL,
                        crc64 TEXT NOT NULL,
                        PRIMARY KEY (item_id, number)
                    ) WITHOUT ROWID;
                    """)
        }
        return migrator
    }

    static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    func json<T: Encodable>(_ value: T) -> String {
        (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    func writeAccess() throws -> GroupCommitWriter {
        guard let writer else { throw IngestError(code: "journal.read-only", message: "the journal was opened for reading") }
        return writer
    }

    /// Marks every pending item committed in one statement: only to build large journals for the benchmark.
    public func markCommittedForBenchmark(except keys: Set<Int64>) async throws {
        let excluded = Array(keys)
        try await writeAccess().write { db in
            try db.execute(
                sql:
                    "UPDATE item SET state = 'committed', file_id = 'F' || id, md5 = '0123456789abcdef0123456789abcdef', committed_at = updated_at "
                    + "WHERE state = 'pending' AND id NOT IN (" + excluded.map { _ in "?" }.joined(separator: ",") + ")",
                arguments: StatementArguments(excluded))
        }
    }

    // MARK: JournalStore

    public func begin(_ run: RunRecord) async throws {
        let options = json(run.options)
        try await writeAccess().write { db in
            try db.execute(
                sql: "INSERT INTO run (id, started_at, tool_version, options, status) VALUES (?, ?, ?, ?, ?)",
                arguments: [run.id, run.startedAt, run.toolVersion, options, run.status])
            for (position, manifest) in run.manifests.enumerated() {
                try db.execute(
                    sql: "INSERT INTO run_manifest (run_id, position, name, path, sha256) VALUES (?, ?, ?, ?, ?)",
                    arguments: [run.id, position, manifest.name, manifest.path, manifest.sha256])
            }
        }
    }

    public func end(runID: String, status: String, summary: String?) async throws {
        let now = Self.nowMillis()
        try await writeAccess().write { db in
            try db.execute(
                sql: "UPDATE run SET finished_at = ?, status = ?, summary = ? WHERE id = ?", arguments: [now, status, summary, runID])
            try db.execute(sql: "UPDATE item SET secret = NULL WHERE secret IS NOT NULL AND secret_expires < ?", arguments: [now / 1000])
        }
    }

    /// Records each manifest's checksum once it is known (it is computed while the rows stream).
    public func setChecksum(runID: String, path: String, sha256: String) async throws {
        try await writeAccess().write { db in
            try db.execute(sql: "UPDATE run_manifest SET sha256 = ? WHERE run_id = ? AND path = ?", arguments: [sha256, runID, path])
        }
    }

    public func inFlight() async throws -> [ResumePoint] {
        let now = Int64(Date().timeIntervalSince1970)
        let decoder = JSONDecoder()
        // Two queries, each on its partial index (an OR of the two would scan every item).
        let columns = """
            id, state, item_json, source_context, session, secret, secret_expires, upload_id, md5, crc64, applied_at, attempts,
            file_id, metadata_pending, metadata_update, replaced_file_id, delete_pending
            """
        return try await database.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT \(columns) FROM item WHERE state IN ('applied', 'uploading', 'uploaded', 'committing')
                    UNION ALL
                    SELECT \(columns) FROM item WHERE state = 'committed' AND (metadata_pending = 1 OR delete_pending = 1)
                    ORDER BY id
                    """)
            var points: [ResumePoint] = []
            for row in rows {
                let key: Int64 = row["id"]
                guard let itemJSON: String = row["item_json"], let item = try? decoder.decode(IngestItem.self, from: Data(itemJSON.utf8)),
                    let state = ItemState(rawValue: row["state"])
                else { continue }
                var session: UploadSession? = nil
                if let sessionJSON: String = row["session"], let secretJSON: String = row["secret"],
                    let expires: Int64 = row["secret_expires"], expires > now,
                    var stored = try? decoder.decode(UploadSession.self, from: Data(sessionJSON.utf8)),
                    let credentials = try? decoder.decode(TemporaryCredentials.self, from: Data(secretJSON.utf8))
                {
                    stored.credentials = credentials
                    session = stored
                } else if let sessionJSON: String = row["session"],
                    let stored = try? decoder.decode(UploadSession.self, from: Data(sessionJSON.utf8))
                {
                    // Credentials expired and erased: a commit needs the session key only, and a
                    // platform that refreshes in place needs only the session to get new ones.
                    session = stored
                }
                var parts: [Int: String] = [:]
                for part in try Row.fetchAll(db, sql: "SELECT number, etag FROM part WHERE item_id = ?", arguments: [key]) {
                    parts[part["number"]] = part["etag"]
                }
                let segments = try Int.fetchAll(db, sql: "SELECT number FROM segment WHERE item_id = ?", arguments: [key])
                var point = ResumePoint(
                    key: key, state: state, item: item, sourceContext: row["source_context"] ?? "", session: session,
                    uploadID: row["upload_id"], parts: parts, md5: row["md5"], crc64: row["crc64"], appliedAt: row["applied_at"],
                    attempts: row["attempts"], fileID: state == .committed ? row["file_id"] : nil)
                if state == .committed {
                    point.metadataPending = row["metadata_pending"]
                    point.metadataUpdate = (row["metadata_update"] as String?).flatMap {
                        try? decoder.decode(MetadataUpdate.self, from: Data($0.utf8))
                    }
                }
                point.segments = Set(segments)
                point.replacedFileID = row["replaced_file_id"]
                point.deleteReplaced = row["delete_pending"]
                points.append(point)
            }
            return points
        }
    }

    public func register(
        _ items: [IngestItem], manifest: ManifestFingerprint, runID: String, sourceContexts: [String], values: [String],
        reopenDuplicates: Bool
    ) async throws -> [Registration] {
        let reopened: Set<ItemState> = reopenDuplicates ? [.failed, .invalid, .skipped] : [.failed, .invalid]
        let now = Self.nowMillis()
        return try await writeAccess().write { db in
            // Read first, write only what changed: a rerun of a manifest whose rows are committed
            // (the nightly no-op) then reads the journal and writes nothing.
            let existing = try db.cachedStatement(sql: Self.existingSQL)
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO item (manifest, manifest_path, row_id, line, path, title, size, md5, state, run_id, source_context,
                                      created_at, updated_at, mtime, row_values)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)
                    """)
            // A row to upload (pending, or failed/invalid/skipped and reopened): what the manifest says now.
            let restart = try db.cachedStatement(
                sql: """
                    UPDATE item SET manifest = ?, line = ?, path = ?, title = ?, size = ?, md5 = ?, run_id = ?, source_context = ?,
                        error_code = NULL, error_message = NULL, duplicate_of = NULL, state = 'pending', updated_at = ?, mtime = ?,
                        row_values = ?
                    WHERE id = ?
                    """)
            // A row committed, skipped or in flight keeps its content, values and state; only where
            // the row now sits in its manifest changes (the manifest was edited).
            let moved = try db.cachedStatement(
                sql: "UPDATE item SET manifest = ?, line = ?, path = ?, run_id = ?, updated_at = ? WHERE id = ?")
            // A committed item journalled before values were kept: this delivery is taken as what was committed.
            let baseline = try db.cachedStatement(sql: "UPDATE item SET row_values = ?, mtime = COALESCE(mtime, ?) WHERE id = ?")
            // A row reported changed is as committed again (the delivery was put back).
            let settled = try db.cachedStatement(
                sql: "UPDATE item SET change = NULL, change_detail = NULL, changed_at = NULL WHERE id = ?")
            let candidates = try db.cachedStatement(
                sql: "SELECT file_id, md5, crc64 FROM item WHERE state = 'committed' AND size = ? AND id <> ? LIMIT 20")
            // The row was invalid in an earlier run and is valid now: its invalid record goes (looked
            // for only when the manifest has invalid records at all).
            let fixed = try db.cachedStatement(sql: "DELETE FROM item WHERE manifest_path = ? AND row_id = ?")
            let hasInvalid =
                try Bool.fetchOne(
                    db, sql: "SELECT EXISTS (SELECT 1 FROM item WHERE manifest_path = ? AND row_id >= '#line:' AND row_id < '#line;')",
                    arguments: [manifest.path]) ?? false
            var result: [Registration] = []
            result.reserveCapacity(items.count)
            for (index, item) in items.enumerated() {
                if hasInvalid { try fixed.execute(arguments: [manifest.path, "#line:\(item.location.line)"]) }
                let key: Int64
                if let row = try Row.fetchOne(existing, arguments: [manifest.path, item.id]) {
                    key = row[E.id]
                    let state = ItemState(rawValue: row[E.state]) ?? .pending
                    if state == .pending || reopened.contains(state) {
                        try restart.execute(arguments: [
                            manifest.name, item.location.line, item.media.given, item.title, item.media.size, item.md5, runID,
                            sourceContexts[index], now, item.media.modified, values[index], key,
                        ])
                        if let replaces: String = row[E.replacedFileID] {
                            // An unfinished replacement: the media it replaces is on the platform still.
                            result.append(.replacement(key: key, replaces: replaces))
                            continue
                        }
                    } else {
                        if row[E.manifest] != manifest.name || row[E.line] != item.location.line || row[E.path] != item.media.given {
                            try moved.execute(arguments: [manifest.name, item.location.line, item.media.given, runID, now, key])
                        }
                        switch state {
                        case .committed where row[E.metadataPending] == true || row[E.deletePending] == true:
                            // Its metadata call (or the replaced media's deletion) is still to be made: the resume set carries it on.
                            result.append(.inFlight(key: key))
                        case .committed:
                            let remote = RemoteMedia(
                                fileID: row[E.fileID] ?? "", mediaURL: row[E.mediaURL], coverURL: row[E.coverURL],
                                requestID: row[E.commitRequestID] ?? "")
                            switch Self.compare(row, item, values[index]) {
                            case .same:
                                if row[E.change] as String? == "changed" { try settled.execute(arguments: [key]) }
                                result.append(.committed(key: key, remote))
                            case .unknown:
                                try baseline.execute(arguments: [values[index], item.media.modified, key])
                                result.append(.committed(key: key, remote))
                            case .differs(let committed):
                                result.append(.revised(key: key, remote, committed))
                            }
                        case .skipped:
                            result.append(.duplicate(key: key, of: row[E.duplicateOf] ?? ""))
                        default:
                            result.append(.inFlight(key: key))
                        }
                        continue
                    }
                } else {
                    try insert.execute(arguments: [
                        manifest.name, manifest.path, item.id, item.location.line, item.media.given, item.title, item.media.size, item.md5,
                        runID, sourceContexts[index], now, now, item.media.modified, values[index],
                    ])
                    key = db.lastInsertedRowID
                }
                var duplicates: [CommittedContent] = []
                if let size = item.media.size {
                    for match in try Row.fetchAll(candidates, arguments: [size, key]) {
                        duplicates.append(CommittedContent(fileID: match["file_id"], md5: match["md5"], crc64: match["crc64"]))
                    }
                }
                result.append(.start(key: key, duplicates: duplicates))
            }
            return result
        }
    }

    /// The columns ``register(_:manifest:runID:sourceContexts:values:reopenDuplicates:)`` and
    /// ``lookup(_:manifest:values:)`` read of a row, read by position (GRDB's lookup by name costs
    /// a lower-casing per column, which the nightly no-op of a million rows feels).
    static let existingSQL = """
        SELECT id, manifest, line, path, state, file_id, media_url, cover_url, commit_request_id, duplicate_of,
               metadata_pending, delete_pending, row_values, size, mtime, md5, crc64, change, replaced_file_id
        FROM item WHERE manifest_path = ? AND row_id = ?
        """
    enum E {
        static let id = 0, manifest = 1, line = 2, path = 3, state = 4, fileID = 5, mediaURL = 6, coverURL = 7, commitRequestID = 8
        static let duplicateOf = 9, metadataPending = 10, deletePending = 11, rowValues = 12, size = 13, mtime = 14, md5 = 15
        static let crc64 = 16, change = 17, replacedFileID = 18
    }

    /// How a committed row's new delivery compares with what the journal holds of it.
    enum Comparison {
        case same
        /// The journal has no values of it (journalled before they were kept).
        case unknown
        case differs(CommittedRevision)
    }

    /// Compares by the values' text, the file's size and its modification time (a cheap test for
    /// the nightly no-op; what differs is worked out by ``Revision/between(_:_:profile:)``).
    static func compare(_ row: Row, _ item: IngestItem, _ values: String) -> Comparison {
        guard let stored: String = row[E.rowValues] else { return .unknown }
        let size: Int64? = row[E.size]
        let mtime: Double? = row[E.mtime]
        let sizeDiffers = size != nil && item.media.size != nil && size != item.media.size
        let timeDiffers = mtime != nil && item.media.modified != nil && mtime != item.media.modified
        if stored == values && !sizeDiffers && !timeDiffers { return .same }
        return .differs(CommittedRevision(values: stored, size: size, modified: mtime, md5: row[E.md5], crc64: row[E.crc64]))
    }

    /// What ``register(_:manifest:runID:sourceContexts:values:reopenDuplicates:)`` would say of each
    /// row, without writing (`plan --state-dir`); nil for a row the journal does not have. A row to
    /// start again comes without its duplicates.
    public func lookup(_ items: [IngestItem], manifest: ManifestFingerprint, values: [String]) throws -> [Registration?] {
        try database.read { db in
            let existing = try db.cachedStatement(sql: Self.existingSQL)
            return try items.enumerated().map { index, item -> Registration? in
                guard let row = try Row.fetchOne(existing, arguments: [manifest.path, item.id]) else { return nil }
                let key: Int64 = row[E.id]
                let remote = RemoteMedia(
                    fileID: row[E.fileID] ?? "", mediaURL: row[E.mediaURL], coverURL: row[E.coverURL],
                    requestID: row[E.commitRequestID] ?? "")
                switch ItemState(rawValue: row[E.state]) ?? .pending {
                case .committed where row[E.metadataPending] == true || row[E.deletePending] == true: return .inFlight(key: key)
                case .committed:
                    if case .differs(let committed) = Self.compare(row, item, values[index]) {
                        return .revised(key: key, remote, committed)
                    }
                    return .committed(key: key, remote)
                case .skipped: return .duplicate(key: key, of: row[E.duplicateOf] ?? "")
                case let state where state.isInFlight: return .inFlight(key: key)
                default:
                    if let replaces: String = row[E.replacedFileID] { return .replacement(key: key, replaces: replaces) }
                    return .start(key: key, duplicates: [])
                }
            }
        }
    }

    public func registerInvalid(_ rows: [InvalidRow], runID: String) async throws {
        let now = Self.nowMillis()
        try await writeAccess().write { db in
            let upsert = try db.cachedStatement(
                sql: """
                    INSERT INTO item (manifest, manifest_path, row_id, line, path, state, run_id, error_code, error_message, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, 'invalid', ?, ?, ?, ?, ?)
                    ON CONFLICT (manifest_path, row_id) DO UPDATE SET
                        manifest = excluded.manifest, line = excluded.line, path = excluded.path, run_id = excluded.run_id,
                        updated_at = excluded.updated_at,
                        error_code = CASE WHEN state IN ('pending', 'failed', 'invalid') THEN excluded.error_code ELSE error_code END,
                        error_message = CASE WHEN state IN ('pending', 'failed', 'invalid') THEN excluded.error_message ELSE error_message END,
                        state = CASE WHEN state IN ('pending', 'failed', 'invalid') THEN 'invalid' ELSE state END
                    """)
            // An invalid row is keyed by its line: its id may be missing, or be the id of a valid row
            // (a duplicate id). An item of the same line not yet committed becomes invalid with it.
            let demote = try db.cachedStatement(
                sql: """
                    UPDATE item SET state = 'invalid', error_code = ?, error_message = ?, updated_at = ?, run_id = ?
                    WHERE manifest_path = ? AND line = ? AND state IN ('pending', 'failed') AND row_id NOT LIKE '#line:%'
                    """)
            for row in rows {
                try upsert.execute(arguments: [
                    row.manifest.name, row.manifest.path, "#line:\(row.line)", row.line, row.path, runID, row.code, row.message, now, now,
                ])
                try demote.execute(arguments: [row.code, row.message, now, runID, row.manifest.path, row.line])
            }
        }
    }

    public func record(_ key: Int64, from state: ItemState, _ event: JournalEvent) async throws {
        guard let next = ItemLifecycle.next(state, event) else {
            throw IngestError(code: "journal.conflict", message: "item \(key): \(event) is not allowed in state \(state.rawValue)")
        }
        let now = Self.nowMillis()
        let (sql, arguments) = update(for: event, now: now)
        try await writeAccess().write { db in
            if case .partConfirmed(let number, let etag, let size) = event {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO part (item_id, number, etag, size) VALUES (?, ?, ?, ?)",
                    arguments: [key, number, etag, size])
            }
            if case .segmentConfirmed(let number, let crc64) = event {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO segment (item_id, number, crc64) VALUES (?, ?, ?)", arguments: [key, number, crc64])
            }
            if case .sessionAbandoned = event {
                // A new session is a new storage folder: every part and package file goes again.
                try db.execute(sql: "DELETE FROM part WHERE item_id = ?", arguments: [key])
                try db.execute(sql: "DELETE FROM segment WHERE item_id = ?", arguments: [key])
            }
            var all = arguments
            all += [next.rawValue, now, key, state.rawValue]
            try db.execute(sql: "UPDATE item SET \(sql)state = ?, updated_at = ? WHERE id = ? AND state = ?", arguments: all)
            if db.changesCount != 1 {
                throw IngestError(
                    code: "journal.conflict",
                    message: "item \(key) is no longer in state \(state.rawValue); another run may have changed it")
            }
            if case .committed = event {
                try db.execute(sql: "DELETE FROM part WHERE item_id = ?", arguments: [key])
                try db.execute(sql: "DELETE FROM segment WHERE item_id = ?", arguments: [key])
            }
        }
    }

    /// The columns an event sets (each followed by `, `), and their values.
    private func update(for event: JournalEvent, now: Int64) -> (String, StatementArguments) {
        switch event {
        case .applied(let session, let item, let sourceContext):
            var stored = session
            stored.credentials = TemporaryCredentials(secretID: "", secretKey: "", token: "", expiresAt: session.credentials.expiresAt)
            return (
                "item_json = ?, source_context = ?, session = ?, secret = ?, secret_expires = ?, applied_at = ?, apply_request_id = ?, "
                    + "upload_id = NULL, attempts = attempts + 1, ",
                [
                    json(item), sourceContext, json(stored), json(session.credentials), session.credentials.expiresAt, now / 1000,
                    session.requestID,
                ]
            )
        case .credentialsRefreshed(let session):
            var stored = session
            stored.credentials = TemporaryCredentials(secretID: "", secretKey: "", token: "", expiresAt: session.credentials.expiresAt)
            return (
                "session = ?, secret = ?, secret_expires = ?, ", [json(stored), json(session.credentials), session.credentials.expiresAt]
            )
        case .multipartStarted(let uploadID):
            return ("upload_id = ?, ", [uploadID])
        case .partConfirmed, .segmentConfirmed:
            return ("", [])
        case .uploaded(let md5, let crc64):
            return ("md5 = COALESCE(?, md5), crc64 = ?, ", [md5, crc64])
        case .committing:
            return ("", [])
        case .committed(let remote, let recovered, let metadataPending):
            // The item stays (for its metadata call, or to delete the media it replaces) while one is pending.
            return (
                "file_id = ?, media_url = ?, cover_url = ?, commit_request_id = ?, recovered = ?, committed_at = ?, platform_status = ?, secret = NULL, "
                    + "secret_expires = NULL, item_json = CASE WHEN ? OR delete_pending = 1 THEN item_json ELSE NULL END, upload_id = NULL, "
                    + "error_code = NULL, error_message = NULL, metadata_pending = ?, metadata_error = NULL, metadata_update = NULL, "
                    + "change = CASE WHEN change = 'replacing' THEN 'replaced' ELSE change END, ",
                [
                    remote.fileID, remote.mediaURL, remote.coverURL, remote.requestID, recovered, now, remote.status, metadataPending,
                    metadataPending,
                ]
            )
        case .metadataApplied:
            return (
                "metadata_pending = 0, metadata_error = NULL, metadata_update = NULL, "
                    + "item_json = CASE WHEN delete_pending = 1 THEN item_json ELSE NULL END, ", []
            )
        case .metadataFailed(let code, let message):
            return ("metadata_error = ?, ", [code + ": " + message])
        case .revising(let update, let item):
            return ("item_json = ?, metadata_pending = 1, metadata_update = ?, metadata_error = NULL, ", [json(item), json(update)])
        case .revisionApplied(let values, let fields):
            let detail = fields.joined(separator: ", ")
            return (
                "metadata_pending = 0, metadata_error = NULL, metadata_update = NULL, "
                    + "item_json = CASE WHEN delete_pending = 1 THEN item_json ELSE NULL END, row_values = ?, title = ?, "
                    + "change = 'updated', change_detail = ?, changed_at = ?, ",
                [values.encoded, values.title, detail, now]
            )
        case .changeNoted(let detail):
            return ("change = 'changed', change_detail = ?, changed_at = ?, ", [detail, now])
        case .contentConfirmed(let modified):
            return ("mtime = ?, ", [modified])
        case .replacing(let item, let sourceContext, let values, let deleteReplaced, let reason):
            return (
                "replaced_file_id = file_id, delete_pending = ?, replaced_deleted = 0, delete_error = NULL, file_id = NULL, "
                    + "media_url = NULL, cover_url = NULL, commit_request_id = NULL, committed_at = NULL, platform_status = NULL, "
                    + "recovered = 0, md5 = ?, crc64 = NULL, size = ?, mtime = ?, row_values = ?, title = ?, path = ?, "
                    + "source_context = ?, session = NULL, applied_at = NULL, attempts = 0, metadata_pending = 0, "
                    + "metadata_update = NULL, metadata_error = NULL, item_json = NULL, change = 'replacing', change_detail = ?, changed_at = ?, "
                    + "upload_event_at = NULL, procedure_task_id = NULL, procedure_status = NULL, procedure_status_at = NULL, "
                    + "events_done = 0, processing_failed = 0, ",
                [
                    deleteReplaced, item.md5, item.media.size, item.media.modified, values.encoded, item.title, item.media.given,
                    sourceContext, reason, now,
                ]
            )
        case .replacedDeleted:
            return (
                "delete_pending = 0, replaced_deleted = 1, delete_error = NULL, "
                    + "item_json = CASE WHEN metadata_pending = 1 THEN item_json ELSE NULL END, ", []
            )
        case .replacedDeleteFailed(let code, let message):
            return ("delete_error = ?, ", [code + ": " + message])
        case .sessionAbandoned:
            return ("session = NULL, secret = NULL, secret_expires = NULL, upload_id = NULL, ", [])
        case .failed(let code, let message, let attempts):
            return (
                "error_code = ?, error_message = ?, attempts = ?, secret = NULL, secret_expires = NULL, ", [code, message, attempts]
            )
        case .duplicate(let fileID, let md5):
            return ("duplicate_of = ?, md5 = ?, ", [fileID, md5])
        }
    }

    public func records(manifestPaths: [String]?, _ body: (JournalRecord) throws -> Void) throws {
        try database.read { db in
            var filter = ""
            var arguments = StatementArguments()
            if let paths = manifestPaths {
                filter = "WHERE manifest_path IN (" + paths.map { _ in "?" }.joined(separator: ", ") + ")"
                arguments = StatementArguments(paths)
            }
            let cursor = try Row.fetchCursor(
                db,
                sql: """
                    SELECT manifest, line, row_id, path, title, size, md5, state, source_context, file_id, media_url, cover_url,
                           duplicate_of, error_code, error_message, attempts, apply_request_id, commit_request_id, recovered,
                           created_at, updated_at, committed_at, platform_status, crc64, metadata_error, change, change_detail, changed_at,
                           replaced_file_id, replaced_deleted, delete_error, upload_event_at, procedure_task_id, procedure_status,
                           procedure_status_at
                    FROM item \(filter) ORDER BY manifest, line
                    """, arguments: arguments)
            while let row = try cursor.next() {
                var record = JournalRecord(
                    manifest: row[0], line: row[1], id: row[2], path: row[3], title: row[4], size: row[5], md5: row[6],
                    state: ItemState(rawValue: row[7]) ?? .pending, sourceContext: row[8], fileID: row[9], mediaURL: row[10],
                    coverURL: row[11], duplicateOf: row[12], errorCode: row[13], errorMessage: row[14], attempts: row[15],
                    applyRequestID: row[16], commitRequestID: row[17], recovered: row[18], createdAt: row[19], updatedAt: row[20],
                    committedAt: row[21], platformStatus: row[22], crc64: row[23], metadataError: row[24])
                record.change = row[25]
                record.changeDetail = row[26]
                record.changedAt = row[27]
                record.replacedFileID = row[28]
                record.replacedDeleted = row[29]
                record.deleteError = row[30]
                record.uploadEventAt = row[31]
                record.procedureTaskID = row[32]
                record.procedureStatus = row[33]
                record.procedureStatusAt = row[34]
                try body(record)
            }
        }
    }

    // MARK: Processing events

    static let processingColumns =
        "id, file_id, source_context, upload_event_at, procedure_task_id, procedure_status, procedure_status_at, events_done, processing_failed"

    static func processingState(_ row: Row) -> ProcessingState {
        ProcessingState(
            key: row[0], fileID: row[1], sourceContext: row[2], uploadEventAt: row[3], procedureTaskID: row[4], procedureStatus: row[5],
            procedureStatusAt: row[6], done: row[7], failed: row[8])
    }

    public func awaitingProcessing(committedSince: Int64?, after: Int64, limit: Int) async throws -> [ProcessingState] {
        try await database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.processingColumns) FROM item
                    WHERE state = 'committed' AND events_done = 0 AND file_id IS NOT NULL AND committed_at >= ? AND id > ?
                    ORDER BY id LIMIT ?
                    """, arguments: [committedSince ?? 0, after, limit]
            ).map(Self.processingState)
        }
    }

    public func countAwaitingProcessing(committedSince: Int64?) async throws -> Int {
        try await database.read { db in
            try Int.fetchOne(
                db,
                sql:
                    "SELECT COUNT(*) FROM item WHERE state = 'committed' AND events_done = 0 AND file_id IS NOT NULL AND committed_at >= ?",
                arguments: [committedSince ?? 0]) ?? 0
        }
    }

    public func processingStates(fileIDs: [String]) async throws -> [String: ProcessingState] {
        guard !fileIDs.isEmpty else { return [:] }
        return try await database.read { db in
            var states: [String: ProcessingState] = [:]
            let statement = try db.cachedStatement(
                sql: "SELECT \(Self.processingColumns) FROM item WHERE file_id = ? AND state = 'committed'")
            for id in Set(fileIDs) {
                if let row = try Row.fetchOne(statement, arguments: [id]) { states[id] = Self.processingState(row) }
            }
            return states
        }
    }

    public func knownMedia(_ fileIDs: [String]) async throws -> Set<String> {
        guard !fileIDs.isEmpty else { return [] }
        return try await database.read { db in
            let statement = try db.cachedStatement(
                sql: "SELECT EXISTS (SELECT 1 FROM item WHERE file_id = ?) OR EXISTS (SELECT 1 FROM item WHERE replaced_file_id = ?)")
            return Set(try fileIDs.filter { try Bool.fetchOne(statement, arguments: [$0, $0]) ?? false })
        }
    }

    public func recordProcessing(_ states: [ProcessingState]) async throws {
        guard !states.isEmpty else { return }
        let now = Self.nowMillis()
        try await writeAccess().write { db in
            let update = try db.cachedStatement(
                sql: """
                    UPDATE item SET upload_event_at = ?, procedure_task_id = ?, procedure_status = ?, procedure_status_at = ?,
                        events_done = ?, processing_failed = ?, updated_at = ?
                    WHERE id = ? AND file_id = ?
                    """)
            for s in states {
                try update.execute(arguments: [
                    s.uploadEventAt, s.procedureTaskID, s.procedureStatus, s.procedureStatusAt, s.done, s.failed, now, s.key, s.fileID,
                ])
            }
        }
    }

    public func runs() async throws -> [RunRecord] {
        let decoder = JSONDecoder()
        return try await database.read { db in
            var runs: [RunRecord] = []
            for row in try Row.fetchAll(
                db, sql: "SELECT id, started_at, finished_at, tool_version, options, status FROM run ORDER BY started_at")
            {
                let id: String = row["id"]
                let manifests = try Row.fetchAll(
                    db, sql: "SELECT name, path, sha256 FROM run_manifest WHERE run_id = ? ORDER BY position", arguments: [id]
                ).map { ManifestFingerprint(name: $0["name"], path: $0["path"], sha256: $0["sha256"]) }
                let options = (try? decoder.decode([String: String].self, from: Data((row["options"] as String).utf8))) ?? [:]
                runs.append(
                    RunRecord(
                        id: id, startedAt: row["started_at"], finishedAt: row["finished_at"], toolVersion: row["tool_version"],
                        manifests: manifests, options: options, status: row["status"]))
            }
            return runs
        }
    }
}
