import ArgumentParser
import Emulator
import Foundation
import IngestCore
import IngestEngine
import Synchronization

/// `vodingest emulator`: the local stand-in for Tencent VOD + COS and Alibaba VOD + OSS, standalone.
struct EmulatorCommand: AsyncParsableCommand, LoggingCommand {
    static let configuration = CommandConfiguration(
        commandName: "emulator",
        abstract: "Run the local Tencent VOD + COS and Alibaba VOD + OSS emulator (what --provider local and local-aliyun use in-process).",
        discussion: """
            Serves Tencent's VOD API 3.0 and COS and Alibaba's VOD RPC API and OSS on one port, and prints the endpoint and the credentials of both accounts. Admin API: GET /_emulator/media (every committed Tencent media), GET /_emulator/videos (every Alibaba video), POST /_emulator/expire-credentials?VideoId=ID (that video's upload credentials expire now), GET /_emulator/events (Tencent events not confirmed yet), GET /_emulator/counters, GET|PUT /_emulator/config (rate limit, faults, lifetimes, processing delay, event lease, commit policy, as JSON).

            Examples:
              vodingest emulator --port 18080 --data-dir /tmp/emu
              vodingest emulator --fault-internal-error 0.1 --fault-slow-down 0.05 --fault-reset 0.05
              vodingest ingest --provider tencent --endpoint http://127.0.0.1:18080 \\
                --cos-endpoint http://127.0.0.1:18080 samples/good.csv
              vodingest ingest --provider aliyun --endpoint http://127.0.0.1:18080 samples/good.csv
            """)

    @OptionGroup(title: "Logging") var logging: LogOptions

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

    @Option(help: "API requests per second per action before RequestLimitExceeded / Throttling.User (0: unlimited).")
    var rateLimit: Double = 100

    @Option(help: "Fraction of API calls answered InternalError.")
    var faultInternalError: Double = 0

    @Option(help: "Fraction of COS requests answered 503 SlowDown (OSS: 503 ServiceUnavailable).")
    var faultSlowDown: Double = 0

    @Option(help: "Fraction of Complete Multipart Upload calls answered 200 with an <Error> body (OSS: 500 InternalError).")
    var faultComplete: Double = 0

    @Option(help: "Fraction of COS and OSS uploads (PUT Object, Upload Part) whose connection is reset mid-body.")
    var faultReset: Double = 0

    @Option(help: "Milliseconds added to every request.")
    var latency = 0

    @Option(help: "Lifetime of temporary credentials, seconds.")
    var credentialLifetime: Int64 = 3600

    @Option(help: "Lifetime of a VodSessionKey (ApplyUpload to CommitUpload), seconds.")
    var sessionLifetime: Int64 = 86_400

    @Option(help: "Seconds an empty PullEvents waits for an event (the platform: 5).")
    var eventWait: Double = 5

    @Option(
        help:
            "Seconds processing takes: a Tencent procedure's FINISH event comes this long after the commit; an Alibaba video is Transcoding from half of it, Normal after it."
    )
    var processingDelay: Double = 1

    @Option(help: "A repeated CommitUpload: idempotent (same FileId) or reject.")
    var commitPolicy = "idempotent"

    mutating func validate() throws {
        guard EmulatorConfiguration.CommitPolicy(rawValue: commitPolicy) != nil else {
            throw ValidationError("--commit-policy is idempotent or reject")
        }
        for (name, v) in [
            ("--fault-internal-error", faultInternalError), ("--fault-slow-down", faultSlowDown), ("--fault-complete", faultComplete),
            ("--fault-reset", faultReset),
        ]
        where !(0...1).contains(v) {
            throw ValidationError("\(name) is a fraction between 0 and 1")
        }
        for (name, key, v) in [
            ("--rate-limit", "actionRateLimit", rateLimit), ("--latency", "latencyMilliseconds", Double(latency)),
            ("--credential-lifetime", "credentialLifetime", Double(credentialLifetime)),
            ("--session-lifetime", "sessionLifetime", Double(sessionLifetime)), ("--event-wait", "eventWaitSeconds", eventWait),
            ("--processing-delay", "processingDelaySeconds", processingDelay),
        ] {
            if let rule = EmulatorConfiguration.knobRule(key, brokenBy: v) { throw ValidationError("\(name) is \(rule)") }
        }
        if secretKey != nil {
            StandardError.say("warning: a secret on the command line shows in the process list; prefer EMULATOR_SECRET_KEY")
        }
    }

    func run() async throws {
        let data = URL(fileURLWithPath: dataDir).standardizedFileURL.path
        if let failure = Folder.create(data) {
            StandardError.say(
                "error: cannot create the folder \(failure.folder) for the emulator's data (\(failure.reason)); choose another --data-dir")
            throw ExitStatus.usage.exitCode
        }
        var configuration = EmulatorConfiguration(
            dataDirectory: data, credentialLifetime: credentialLifetime,
            sessionLifetime: sessionLifetime, commitPolicy: .init(rawValue: commitPolicy)!, actionRateLimit: rateLimit,
            apiInternalErrorRate: faultInternalError, cosSlowDownRate: faultSlowDown, completeErrorRate: faultComplete,
            connectionResetRate: faultReset, eventWaitSeconds: eventWait, latencyMilliseconds: latency)
        configuration.processingDelaySeconds = processingDelay
        if let secretId { configuration.secretID = secretId }
        let environment = ProcessInfo.processInfo.environment
        if let id = environment["EMULATOR_ALIYUN_ACCESS_KEY_ID"], !id.isEmpty { configuration.aliyunAccessKeyID = id }
        if let secret = environment["EMULATOR_ALIYUN_ACCESS_KEY_SECRET"], !secret.isEmpty { configuration.aliyunAccessKeySecret = secret }
        if let key = secretKey ?? ProcessInfo.processInfo.environment["EMULATOR_SECRET_KEY"] { configuration.secretKey = key }
        let ready = Atomic<Bool>(false)
        do {
            try await serve(configuration) { ready.store(true, ordering: .relaxed) }
        } catch  where !ready.load(ordering: .relaxed) {
            // Before the listener was bound (the port is taken, the host is not this machine's): a usage error.
            StandardError.say("error: cannot listen on \(host):\(port) (\(error)); choose another --port or --host")
            throw ExitStatus.usage.exitCode
        }
    }

    /// Runs the emulator until a signal; `onReady` once it listens.
    func serve(_ configuration: EmulatorConfiguration, onReady: @escaping @Sendable () -> Void) async throws {
        try await Emulator.run(configuration: configuration, host: host, port: port, handlesSignals: true) { endpoint in
            onReady()
            let text = """
                vodingest emulator listening on \(endpoint.url) (data: \(endpoint.dataDirectory))
                  export TENCENTCLOUD_SECRET_ID=\(endpoint.secretID)
                  export TENCENTCLOUD_SECRET_KEY=\(endpoint.secretKey)
                  vodingest ingest --provider tencent --endpoint \(endpoint.url) --cos-endpoint \(endpoint.url) MANIFEST...
                  export ALIBABA_CLOUD_ACCESS_KEY_ID=\(endpoint.aliyunAccessKeyID)
                  export ALIBABA_CLOUD_ACCESS_KEY_SECRET=\(endpoint.aliyunAccessKeySecret)
                  vodingest ingest --provider aliyun --endpoint \(endpoint.url) MANIFEST...

                """
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}
