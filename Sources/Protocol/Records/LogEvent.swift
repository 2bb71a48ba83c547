/// Every kind of structured record livefeed writes. The raw value is the `event` of a JSON line and journald's
/// `EVENT=`; `messageID` is journald's `MESSAGE_ID=`, one stable 128-bit id per kind, documented in
/// `systemd/livefeed.catalog`. Both are wire spellings: never change one once released.
package enum LogEvent: String, CaseIterable, Sendable {
    // Supervisor lifecycle.
    case listening
    case ready
    case stopping
    case stopped
    case startupFailed = "startup_failed"
    case socketActivationFailed = "socket_activation_failed"
    case workerBinaryMissing = "worker_binary_missing"
    case prepareDBFailed = "prepare_db_failed"
    case capsExceedDescriptorLimit = "caps_exceed_descriptor_limit"
    case signalfdFailed = "signalfd_failed"
    case watchdogWithheld = "watchdog_withheld"
    case watchdogResumed = "watchdog_resumed"

    // The door and connections.
    case acceptFailed = "accept_failed"
    case acceptPaused = "accept_paused"
    case acceptResumed = "accept_resumed"
    case connectionRefused = "connection_refused"
    case connectionOpened = "connection_opened"
    case connectionClosed = "connection_closed"
    case unknownConnectionClosed = "unknown_connection_closed"
    case connectionMoved = "connection_moved"
    case connectionMoveFailed = "connection_move_failed"
    case slotAccountingError = "slot_accounting_error"
    case recordsDropped = "records_dropped"

    // Workers, as the supervisor sees them.
    case workerStarted = "worker_started"
    case workerStartFailed = "worker_start_failed"
    case workerReady = "worker_ready"
    case workerExited = "worker_exited"
    case workerCrashLoop = "worker_crash_loop"
    case workerRecovered = "worker_recovered"
    case workerUnresponsive = "worker_unresponsive"
    case workerDrainTimeout = "worker_drain_timeout"
    case workerProtocolViolation = "worker_protocol_violation"
    case workerCommandFailed = "worker_command_failed"
    case workerStderr = "worker_stderr"

    // Reloads.
    case reloadStarted = "reload_started"
    case reloadQueued = "reload_queued"
    case reloadComplete = "reload_complete"
    case upgradeStarted = "upgrade_started"
    case upgradeExec = "upgrade_exec"
    case restartStored = "restart_stored"
    case upgradeFailed = "upgrade_failed"
    case upgradeRefused = "upgrade_refused"
    case upgradeRestored = "upgrade_restored"
    case reloadFailed = "reload_failed"
    case reloadAbandoned = "reload_abandoned"

    // The demo writer.
    case demoWriterStarted = "demo_writer_started"
    case demoWriterFailed = "demo_writer_failed"
    case demoWriterExited = "demo_writer_exited"

    // The WAL checkpointer process.
    case checkpointerStarted = "checkpointer_started"
    case checkpointerFailed = "checkpointer_failed"
    case checkpointerExited = "checkpointer_exited"

    // Reported by workers over their record pipe.
    case workerDraining = "worker_draining"
    case workerSignalled = "worker_signalled"
    case badControlRecord = "bad_control_record"
    case handoffWithoutDescriptor = "handoff_without_descriptor"
    case unexpectedRecord = "unexpected_record"
    case requestFailed = "request_failed"
    case ingestFailed = "ingest_failed"
    case subscribeFailed = "subscribe_failed"
    case pollFailed = "poll_failed"
    case replayFailed = "replay_failed"
    case livePagesOff = "live_pages_off"
    case databaseWentBackwards = "database_went_backwards"

    /// A worker's record of a kind this supervisor does not know (a newer worker binary); its `EVENT=` keeps the
    /// worker's spelling.
    case unclassified = "unclassified"

    /// journald's MESSAGE_ID: 32 lowercase hex digits (sd-id128 without dashes).
    package var messageID: String {
        switch self {
        case .listening: "0d794287c56f48ba84c695927b7d5eab"
        case .ready: "9825b781a1a549f18a1089cb58869948"
        case .stopping: "1f548e9690824a55a06524188d2ce1de"
        case .stopped: "b271a457391f40228f0c559e19b16099"
        case .startupFailed: "e6292e93b788494b977afae21d3f1027"
        case .socketActivationFailed: "fbbca73f6c5c463289073de35968f41b"
        case .workerBinaryMissing: "59db543a9c8a45d48f6a9fa35e17acfc"
        case .prepareDBFailed: "156d3e12734c4597a9642cc001390f9c"
        case .capsExceedDescriptorLimit: "5e236a203d0d4aa4bcc7757b35cb17dd"
        case .signalfdFailed: "700e49eba5b044099c799e6e8ea60edd"
        case .watchdogWithheld: "d0422c8f8dff402cbab0f164fdc4bc9d"
        case .watchdogResumed: "2acd0921049d48b2a141bc63c36f4104"
        case .acceptFailed: "269fee624c964f34a8a186a98533279c"
        case .acceptPaused: "15841a144b514e23803448bce97797b1"
        case .acceptResumed: "1cca9dfc32c846bf862891a4b73b22e2"
        case .connectionRefused: "60543130fe5a455abf3fac92344d222e"
        case .connectionOpened: "3174c767bb3f47648c09009880ebb225"
        case .connectionMoved: "3a9c924eca5b4beebb2ef5b1ad54b70f"
        case .connectionMoveFailed: "e345df3449a34b88851de6fdb313660b"
        case .connectionClosed: "da3c592729c4427c9dc71d9f137969c2"
        case .unknownConnectionClosed: "99e6240ebdfa45239cdc29d3e670f561"
        case .slotAccountingError: "b6a8ec28485d4f4cb43076a4cf86b455"
        case .recordsDropped: "ac21cd4dbc8c44cdb7fe27ec611422cf"
        case .workerStarted: "42ed87c7d9ce4cf9bdfde232724efba6"
        case .workerStartFailed: "20446dfba981432295328ade4966568e"
        case .workerReady: "c6524635d8f24c4596d4c6e19d0f806e"
        case .workerExited: "0c817bd6341b499eb4aeec3d15fd44dd"
        case .workerCrashLoop: "0939abd38ecc4e46976fee6f4ab22fe4"
        case .workerRecovered: "3f96639804a0499fa0d7a993c3d90685"
        case .workerUnresponsive: "5403b44a7b834af0ad6260be40feee92"
        case .workerDrainTimeout: "1e9d02b8676e45aa82c8915b0c76d3ff"
        case .workerProtocolViolation: "7bb43558ce2a4e818a4fe8def261221b"
        case .workerCommandFailed: "5a0bef7cc8b04cd882637a001ec5f1fa"
        case .workerStderr: "255de1d98143408098224c738193d057"
        case .reloadStarted: "98eae263bf474330b1d5656d42ffa3c2"
        case .reloadQueued: "4fda9c7695a84b7d90c5511002cc2bfb"
        case .reloadComplete: "b30ef9a341034553aa0364bd8d19361d"
        case .upgradeStarted: "4cfdd63b1d564507acb5ab782df827a0"
        case .upgradeExec: "c57a7bd99fa844dab3c93daf682a32d9"
        case .restartStored: "6cf266f4cc534aaa8c119fc69b35000e"
        case .upgradeFailed: "f1ab2ab9c58642ddb98597173528ac41"
        case .upgradeRefused: "b1b26288afdc462f9eaed5cffcb1936c"
        case .upgradeRestored: "f359bc6cdacc445dacae22b4665a8b12"
        case .reloadFailed: "cb08893185014c8f9e8c4791a745abb2"
        case .reloadAbandoned: "c0332c11dee24468919b02916af3cb78"
        case .demoWriterStarted: "7a9bb3bdc7084f7cb5c2d2bb11bf8a54"
        case .demoWriterFailed: "44dc9a0d1a154ce3849d94a0f66e2eb4"
        case .demoWriterExited: "44d540d3a703422ab6f1db103a0d85cd"
        case .checkpointerStarted: "312291efe31a410f8c22a4ba6d5f65de"
        case .checkpointerFailed: "244db9fcd40e4573a0f22889b1220aa5"
        case .checkpointerExited: "3516b5231ade49499fedb4431f0594a0"
        case .workerDraining: "63270ece3110469baa1bbbe6f68041ab"
        case .workerSignalled: "4b8f0e61c2d94a4f9e0a7d35b1c6e2f8"
        case .badControlRecord: "87aba2a84ceb44d982740ca66342e9b4"
        case .handoffWithoutDescriptor: "0e07ecd8f23744c5b81e7bf85c30db86"
        case .unexpectedRecord: "b25d7ad006214e14811ecdb8eea6e338"
        case .requestFailed: "40b9d7e08ba143b1b2b64d235fe1830f"
        case .ingestFailed: "429844563de148349e234d18d47fa590"
        case .subscribeFailed: "059cb40545f140b1a0737cfee2d9c2d3"
        case .pollFailed: "1e6301633e7a4524971c320e35c0311f"
        case .replayFailed: "301a5376106c461891cc16eed87bf263"
        case .livePagesOff: "f134afff0fa84e6b8c332893dc0d15f4"
        case .databaseWentBackwards: "c614d29c9f8d46219ecc7621467ab486"
        case .unclassified: "698acab22ffb4aee9c39eb3248e6f193"
        }
    }
}
