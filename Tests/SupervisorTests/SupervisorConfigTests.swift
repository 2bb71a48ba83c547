import LivefeedProtocol
import Testing

@testable import Supervisor

@Suite struct SupervisorConfigTests {
    @Test func capsHaveDocumentedDefaults() throws {
        let c = try SupervisorConfig.parse([], environment: [:])
        #expect(c.caps == ConnectionCaps.Limits(global: 4096, live: 1024, perView: [:], perClient: 64))
    }

    @Test func environmentSetsCapsAndFlagsWin() throws {
        let env = [
            "LIVEFEED_MAX_CONNECTIONS": "100", "LIVEFEED_MAX_LIVE": "30", "LIVEFEED_MAX_PER_CLIENT": "9",
            "LIVEFEED_MAX_LIVE_PER_VIEW": "channel=5, echo=2",
        ]
        let fromEnv = try SupervisorConfig.parse([], environment: env)
        #expect(
            fromEnv.caps
                == ConnectionCaps.Limits(global: 100, live: 30, perView: [.channel: 5, .echo: 2], perClient: 9))
        let flags = try SupervisorConfig.parse(
            [
                "--max-connections", "7", "--max-live-per-view", "channel=3", "--max-live-per-view", "users=4",
                "--max-per-client", "2",
            ],
            environment: env)
        #expect(
            flags.caps
                == ConnectionCaps.Limits(
                    global: 7, live: 30, perView: [.channel: 3, .echo: 2, .users: 4], perClient: 2))
    }

    @Test func viewCapOfZeroTurnsThatViewOff() throws {
        let c = try SupervisorConfig.parse(["--max-live-per-view", "channel=0"], environment: [:])
        #expect(c.caps.limit(for: .channel) == 0)
        #expect(c.caps.limit(for: .metrics) == 1024)
    }

    /// `LIVEFEED_MAX_LIVE=0` turns live off as `--max-live 0` does (the README documents both; the variable was
    /// refused). Other caps stay at least 1.
    @Test func maxLiveOfZeroFromTheEnvironmentTurnsLiveOff() throws {
        #expect(try SupervisorConfig.parse([], environment: ["LIVEFEED_MAX_LIVE": "0"]).caps.live == 0)
        #expect(try SupervisorConfig.parse(["--max-live", "0"], environment: [:]).caps.live == 0)
        #expect(throws: SupervisorConfig.ParseError.self) {
            try SupervisorConfig.parse([], environment: ["LIVEFEED_MAX_CONNECTIONS": "0"])
        }
    }

    /// Usage errors (exit 2, which the unit does not restart on) rather than a surprise later: an empty --db once
    /// served ./state/livefeed.db; a --listen name once failed at the bind with exit 1, the database already made.
    @Test func anEmptyDatabasePathAndANamedListenAddressAreUsageErrors() {
        for args in [["--db", ""], ["--listen", "localhost:0"], ["--metrics-listen", "256.1.1.1:0"]] {
            #expect(throws: SupervisorConfig.ParseError.self, "\(args)") {
                try SupervisorConfig.parse(args, environment: [:])
            }
        }
    }

    @Test func badCapsAreUsageErrors() {
        for args in [
            ["--max-connections", "0"], ["--max-live-per-view", "http=3"], ["--max-live-per-view", "channel"],
            ["--max-live-per-view", "nope=1"], ["--max-per-client", "x"], ["--max-live-per-view", "channel=-1"],
        ] {
            #expect(throws: SupervisorConfig.ParseError.self, "\(args)") {
                try SupervisorConfig.parse(args, environment: [:])
            }
        }
        #expect(throws: SupervisorConfig.ParseError.self) {
            try SupervisorConfig.parse([], environment: ["LIVEFEED_MAX_CONNECTIONS": "many"])
        }
    }
}
