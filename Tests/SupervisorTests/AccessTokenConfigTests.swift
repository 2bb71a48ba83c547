import Foundation
import Testing

@testable import Supervisor

/// Where the access token comes from: the flag, the environment, or systemd's credential (`LoadCredential=token:…`,
/// read from $CREDENTIALS_DIRECTORY), in that order; an unreadable file is a one-line configuration error.
@Suite struct AccessTokenConfigTests {
    static func directory(with token: String?) throws -> String {
        let path = NSTemporaryDirectory() + "livefeed-cred-\(UInt64.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        if let token { try (token + "\n").write(toFile: "\(path)/token", atomically: true, encoding: .utf8) }
        return path
    }

    @Test func theCredentialIsReadWhenNothingElseGivesAToken() throws {
        let credentials = try Self.directory(with: "from-systemd")
        defer { try? FileManager.default.removeItem(atPath: credentials) }
        let c = try SupervisorConfig.parse([], environment: ["CREDENTIALS_DIRECTORY": credentials])
        #expect(c.accessToken == "from-systemd")
        let env = try SupervisorConfig.parse(
            [], environment: ["CREDENTIALS_DIRECTORY": credentials, "LIVEFEED_ACCESS_TOKEN": "from-env"])
        #expect(env.accessToken == "from-env")
        let none = try SupervisorConfig.parse([], environment: ["CREDENTIALS_DIRECTORY": try Self.directory(with: nil)])
        #expect(none.accessToken == nil)
    }

    @Test func anUnreadableTokenFileIsOneLineThatSaysWhy() throws {
        do {
            _ = try SupervisorConfig.parse(["--access-token-file", "/nonexistent/token"], environment: [:])
            Issue.record("an absent token file was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("/nonexistent/token") && text.contains("no such file"), "\(text)")
            #expect(!text.contains("\n"), "\(text)")
        }
    }
}
