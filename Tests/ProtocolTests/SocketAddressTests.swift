import LivefeedProtocol
import Testing

@Suite struct SocketAddressTests {
    @Test func parsesIPv4AndIPv6() {
        #expect(SocketAddress(parsing: "127.0.0.1:8080") == SocketAddress(host: "127.0.0.1", port: 8080))
        #expect(SocketAddress(parsing: "[::1]:0") == SocketAddress(host: "::1", port: 0))
        #expect(SocketAddress(parsing: "[::1]:0")?.description == "[::1]:0")
    }

    @Test(arguments: [
        "", "8080", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:99999", "[::1]", "[::1]80",
        // Not a numeric address: refused when the flag is read (once the bind failed later with exit 1).
        "localhost:0", "256.1.1.1:0", "127.1:0", "[fe80::1%lo]:0", "[::g]:0",
    ])
    func rejectsMalformedAddresses(_ text: String) {
        #expect(SocketAddress(parsing: text) == nil)
    }
}
