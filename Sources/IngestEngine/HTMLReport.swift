import Foundation
import IngestCore

/// The HTML report: one self-contained page (inline CSS and SVG, no script, nothing fetched) with
/// the summary, a chart of throughput over time, then failed and invalid rows, then the rest.
enum HTMLReport {
    /// Rows of each table at most; the CSV has them all.
    static let rowLimit = 20_000

    static func page(
        summary: ReportSummary, problems: [ReportRow], others: [ReportRow], throughput: [(at: Int64, bytesPerSecond: Double)]
    ) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>vodingest report \(escape(summary.runID ?? ""))</title>
            <style>
            body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
            table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
            th{background:#f3f3f3}.failed,.invalid{background:#fde8e8}.skipped{background:#fff6dd}.pending{background:#eef3ff}
            .num{text-align:right}svg{border:1px solid #ccc;background:#fafafa}
            </style></head><body>
            <h1>vodingest reconciliation report</h1>

            """
        let order = ["committed", "skipped", "failed", "invalid", "pending"]
        html += "<table><tr><th>run</th><td>\(escape(summary.runID ?? "-"))</td></tr>"
        html += "<tr><th>tool version</th><td>\(escape(summary.toolVersion))</td></tr>"
        html += "<tr><th>generated</th><td>\(escape(summary.generatedAt))</td></tr>"
        html += "<tr><th>rows</th><td class=num>\(summary.rows)</td></tr>"
        for status in order {
            html += "<tr><th>\(status)</th><td class=num>\(summary.counts[status] ?? 0)</td></tr>"
        }
        html +=
            "<tr><th>bytes committed</th><td class=num>\(ByteSize.format(summary.bytesCommitted)) (\(summary.bytesCommitted) B)</td></tr>"
        html += "<tr><th>duration</th><td class=num>\(String(format: "%.1f", summary.durationSeconds)) s</td></tr>"
        html += "<tr><th>complete</th><td>\(summary.complete ? "yes" : "no: items are pending or a run is going on")</td></tr></table>\n"
        html += "<h2>Runs</h2><table><tr><th>run</th><th>started</th><th>finished</th><th>status</th><th>manifests (SHA-256)</th></tr>"
        for run in summary.runs {
            let manifests = run.manifests.map { "\(escape($0.name)) <code>\(escape($0.sha256 ?? "-"))</code>" }.joined(separator: "<br>")
            html +=
                "<tr><td>\(escape(run.id))</td><td>\(escape(run.startedAt))</td><td>\(escape(run.finishedAt ?? "-"))</td>"
                + "<td>\(escape(run.status))</td><td>\(manifests)</td></tr>"
        }
        html += "</table>\n<h2>Throughput</h2>\n" + chart(throughput) + "\n"
        html += "<h2>Failed and invalid rows (\(problems.count))</h2>\n" + table(problems)
        html +=
            "<h2>Other rows\(others.count >= rowLimit ? " (first \(rowLimit); the CSV report has them all)" : "")</h2>\n" + table(others)
        html += "</body></html>\n"
        return html
    }

    static func table(_ rows: [ReportRow]) -> String {
        guard !rows.isEmpty else { return "<p>None.</p>\n" }
        var html =
            "<table><tr><th>manifest</th><th>line</th><th>id</th><th>path</th><th>size</th><th>status</th><th>media id</th>"
            + "<th>error</th><th>change</th><th>processing</th><th>attempts</th><th>updated</th></tr>\n"
        for row in rows {
            let error = [row.errorCode, row.errorMessage, row.metadataError, row.deleteError].compactMap { $0 }.joined(separator: ": ")
            var change = [row.change, row.changeDetail].compactMap { $0 }.joined(separator: ": ")
            if let old = row.replacedFileID { change += " (replaces \(old)\(row.replacedDeleted == true ? ", deleted" : ""))" }
            var processing = [row.procedureStatus, row.procedureStatusAt].compactMap { $0 }.joined(separator: " at ")
            if let task = row.procedureTaskID { processing += " (task \(task))" }
            if processing.isEmpty, let at = row.uploadEventAt { processing = "uploaded at \(at)" }
            html +=
                "<tr class=\(row.status)><td>\(escape(row.manifest))</td><td class=num>\(row.line)</td><td>\(escape(row.id))</td>"
                + "<td>\(escape(row.path))</td><td class=num>\(row.size.map(String.init) ?? "")</td><td>\(row.status)</td>"
                + "<td>\(escape(row.fileID ?? row.duplicateOf ?? ""))</td><td>\(escape(error))</td><td>\(escape(change))</td><td>\(escape(processing))</td><td class=num>\(row.attempts)</td>"
                + "<td>\(escape(row.updatedAt))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    /// An inline SVG line chart of MiB/s over time.
    static func chart(_ points: [(at: Int64, bytesPerSecond: Double)]) -> String {
        guard points.count >= 1, let start = points.first?.at, let end = points.last?.at else { return "<p>Nothing committed yet.</p>" }
        let width = 720.0, height = 220.0, left = 60.0, bottom = 30.0
        let peak = max(points.map(\.bytesPerSecond).max() ?? 1, 1) / 1_048_576
        let span = Double(max(end - start, 1))
        var path = ""
        for (index, point) in points.enumerated() {
            let x = left + (points.count == 1 ? 0 : Double(point.at - start) / span * (width - left - 10))
            let y = height - bottom - (point.bytesPerSecond / 1_048_576) / peak * (height - bottom - 10)
            path += (index == 0 ? "M" : "L") + String(format: "%.1f,%.1f ", x, y)
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" role="img" aria-label="throughput over time">
            <line x1="\(left)" y1="\(height - bottom)" x2="\(width - 5)" y2="\(height - bottom)" stroke="#888"/>
            <line x1="\(left)" y1="5" x2="\(left)" y2="\(height - bottom)" stroke="#888"/>
            <text x="5" y="15" font-size="11">\(String(format: "%.1f", peak)) MiB/s</text>
            <text x="5" y="\(height - bottom)" font-size="11">0</text>
            <text x="\(left)" y="\(height - 8)" font-size="11">\(escape(ReportRow.time(start)))</text>
            <text x="\(width - 190)" y="\(height - 8)" font-size="11">\(escape(ReportRow.time(end)))</text>
            <path d="\(path)" fill="none" stroke="#2a6fdb" stroke-width="2"/>
            </svg>
            """
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
