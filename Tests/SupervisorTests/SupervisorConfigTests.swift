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
