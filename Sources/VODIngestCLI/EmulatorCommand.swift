import ArgumentParser
import Emulator
import IngestCore
import Foundation
import IngestEngine

/// `vodingest emulator`: the local stand-in for Tencent VOD + COS, standalone.
struct EmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emulator",
        abstract: "Run the local Tencent VOD + COS emulator (what --provider local uses in-process).",
        discussion: """
            Serves the VOD API 3.0 and COS on one port and prints the endpoint and the credentials
            to use. Admin API: GET /_emulator/media (every committed media), GET /_emulator/counters,
            GET|PUT /_emulator/config (rate limit, faults, lifetimes, commit policy, as JSON).

            Examples:
              vodingest emulator --port 18080 --data-dir /tmp/emu
              vodingest emulator --fault-internal-error 0.1 --fault-slow-down 0.05 --fault-reset 0.05
              vodingest ingest --provider tencent --endpoint http://127.0.0.1:18080 \\
                --cos-endpoint http://127.0.0.1:18080 samples/good.csv
            """)

    @Option(help: "Port on 127.0.0.1 (0: a free one).")
    var port = 18080

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: ArgumentHelp("Media, parts and the catalogue.", valueName: "dir"))
    var dataDir = "vodingest-emulator"

    @Option(help: "SecretId the emulator accepts (default: a random one, printed at start).")
    var secretId: String?

    @Option(help: "SecretKey the emulator accepts (prefer EMULATOR_SECRET_KEY in the environment).")
    var secretKey: String?

    @Option(help: "API requests per second per action before RequestLimitExceeded (0: unlimited).")
    var rateLimit: Double = 100

    @Option(help: "Fraction of API calls answered InternalError.")
    var faultInternalError: Double = 0

    @Option(help: "Fraction of COS requests answered 503 SlowDown.")
    var faultSlowDown: Double = 0

    @Option(help: "Fraction of Complete Multipart Upload calls answered 200 with an <Error> body.")
    var faultComplete: Double = 0

    @Option(help: "Fraction of COS uploads (PUT Object, Upload Part) whose connection is reset mid-body.")
    var faultReset: Double = 0

    @Option(help: "Milliseconds added to every request.")
    var latency = 0

    @Option(help: "Lifetime of temporary credentials, seconds.")
    var credentialLifetime: Int64 = 3600

    @Option(help: "Lifetime of a VodSessionKey (ApplyUpload to CommitUpload), seconds.")
    var sessionLifetime: Int64 = 86_400

    @Option(help: "Seconds an empty PullEvents waits for an event (the platform: 5).")
    var eventWait: Double = 5

    @Option(help: "A repeated CommitUpload: idempotent (same FileId) or reject.")
    var commitPolicy = "idempotent"

    mutating func validate() throws {
        guard EmulatorConfiguration.CommitPolicy(rawValue: commitPolicy) != nil else {
            throw ValidationError("--commit-policy is idempotent or reject")
        }
        for (name, v) in [("--fault-internal-error", faultInternalError), ("--fault-slow-down", faultSlowDown), ("--fault-complete", faultComplete), ("--fault-reset", faultReset)]
        where !(0...1).contains(v) {
            throw ValidationError("\(name) is a fraction between 0 and 1")
        }
        if secretKey != nil {
            FileHandle.standardError.write(Data("warning: a secret on the command line shows in the process list; prefer EMULATOR_SECRET_KEY\n".utf8))
        }
    }

    func run() async throws {
        let data = URL(fileURLWithPath: dataDir).standardizedFileURL.path
        if let failure = Folder.create(data) {
            FileHandle.standardError.write(Data("error: cannot create the folder \(failure.folder) for the emulator's data (\(failure.reason)); choose another --data-dir\n".utf8))
            throw ExitStatus.usage.exitCode
        }
        var configuration = EmulatorConfiguration(
            dataDirectory: data, credentialLifetime: credentialLifetime,
            sessionLifetime: sessionLifetime, commitPolicy: .init(rawValue: commitPolicy)!, actionRateLimit: rateLimit,
            apiInternalErrorRate: faultInternalError, cosSlowDownRate: faultSlowDown, completeErrorRate: faultComplete,
            connectionResetRate: faultReset, eventWaitSeconds: eventWait, latencyMilliseconds: latency)
        if let secretId { configuration.secretID = secretId }
        if let key = secretKey ?? ProcessInfo.processInfo.environment["EMULATOR_SECRET_KEY"] { configuration.secretKey = key }
        try await Emulator.run(configuration: configuration, host: host, port: port, handlesSignals: true) { endpoint in
            let text = """
                vodingest emulator listening on \(endpoint.url) (data: \(endpoint.dataDirectory))
                  export TENCENTCLOUD_SECRET_ID=\(endpoint.secretID)
                  export TENCENTCLOUD_SECRET_KEY=\(endpoint.secretKey)
                  vodingest ingest --provider tencent --endpoint \(endpoint.url) --cos-endpoint \(endpoint.url) MANIFEST...

                """
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}
